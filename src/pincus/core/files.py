"""File access inside an instance's rootfs, resolved as the container sees it.

Every operation runs in a forked child chrooted into the rootfs, so a symlink planted by the
container (even one swapped in while we work) resolves inside the container, never on the host.
The child reports a JSON header line and then streams content over a pipe.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pincus.core.errors import InvalidArgument, NotFound, PincusError

CHUNK = 1 << 16


@dataclass
class FileInfo:
    """What the files API reports about a path."""

    kind: str  # file, directory, symlink
    uid: int
    gid: int
    mode: int
    entries: list[str] | None = None
    target: str = ""


def _child(rootfs: str, work: Any, out_fd: int) -> None:
    """Run ``work`` chrooted into rootfs; report errors as a JSON header; never returns."""
    code = 0
    try:
        os.chroot(rootfs)
        os.chdir("/")
        work(out_fd)
    except OSError as exc:
        _header(out_fd, {"error": exc.strerror or str(exc), "errno": exc.errno})
        code = 1
    except BaseException:  # noqa: BLE001 - the child must always exit
        code = 2
    finally:
        os._exit(code)


def _header(fd: int, header: dict[str, Any]) -> None:
    os.write(fd, json.dumps(header).encode() + b"\n")


def _raise(header: dict[str, Any], path: str) -> None:
    if "error" in header:
        if header.get("errno") == 2:
            raise NotFound(f'Path "{path}" not found in the instance')
        raise InvalidArgument(f'Failed accessing "{path}": {header["error"]}')


def _read_header(fd: int) -> tuple[dict[str, Any], bytes]:
    buf = b""
    while b"\n" not in buf:
        chunk = os.read(fd, CHUNK)
        if not chunk:
            raise PincusError("File access helper exited unexpectedly")
        buf += chunk
    line, rest = buf.split(b"\n", 1)
    return json.loads(line), rest


def _check_path(path: str) -> str:
    if not path.startswith("/"):
        raise InvalidArgument(f'Path "{path}" must be absolute')
    return path


def pull(rootfs: str, path: str) -> tuple[FileInfo, Iterator[bytes]]:
    """Stat a path and stream a file's content (a directory lists its entries)."""
    _check_path(path)
    r, w = os.pipe()

    def work(out: int) -> None:
        st = os.lstat(path)
        info = {"uid": st.st_uid, "gid": st.st_gid, "mode": stat.S_IMODE(st.st_mode)}
        if stat.S_ISLNK(st.st_mode):
            _header(out, {**info, "kind": "symlink", "target": os.readlink(path)})
        elif stat.S_ISDIR(st.st_mode):
            _header(out, {**info, "kind": "directory", "entries": sorted(os.listdir(path))})
        else:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            _header(out, {**info, "kind": "file"})
            while data := os.read(fd, CHUNK):
                os.write(out, data)

    pid = os.fork()
    if pid == 0:
        os.close(r)
        _child(rootfs, work, w)
    os.close(w)
    try:
        header, rest = _read_header(r)
        _raise(header, path)
    except BaseException:
        os.close(r)
        os.waitpid(pid, 0)
        raise
    info = FileInfo(header["kind"], header["uid"], header["gid"], header["mode"],
                    header.get("entries"), header.get("target", ""))
    return info, _stream(r, pid, rest)


def _stream(fd: int, pid: int, first: bytes) -> Iterator[bytes]:
    try:
        if first:
            yield first
        while data := os.read(fd, CHUNK):
            yield data
    finally:
        os.close(fd)
        os.waitpid(pid, 0)


def push(rootfs: str, path: str, kind: str, uid: int, gid: int, mode: int, append: bool,
         content: Iterator[bytes]) -> None:
    """Create or overwrite a file, directory or symlink (content is the data or the link target)."""
    _check_path(path)
    if kind not in ("file", "directory", "symlink"):
        raise InvalidArgument(f'Unknown file type "{kind}"')
    data_r, data_w = os.pipe()
    res_r, res_w = os.pipe()

    def work(out: int) -> None:
        if kind == "directory":
            if not os.path.isdir(path):
                os.mkdir(path, mode)
            os.lchown(path, uid, gid)
            os.chmod(path, mode)
        elif kind == "symlink":
            target = b"".join(iter(lambda: os.read(data_r, CHUNK), b"")).decode()
            if os.path.lexists(path):
                os.unlink(path)
            os.symlink(target, path)
            os.lchown(path, uid, gid)
        else:
            flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if append else os.O_TRUNC)
            fd = os.open(path, flags, mode)
            while data := os.read(data_r, CHUNK):
                os.write(fd, data)
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            os.close(fd)
        _header(out, {"ok": True})

    pid = os.fork()
    if pid == 0:
        os.close(data_w)
        os.close(res_r)
        _child(rootfs, work, res_w)
    os.close(data_r)
    os.close(res_w)
    try:
        for chunk in content:
            os.write(data_w, chunk)
    except BrokenPipeError:
        pass
    finally:
        os.close(data_w)
    try:
        header, _ = _read_header(res_r)
    finally:
        os.close(res_r)
        os.waitpid(pid, 0)
    _raise(header, path)


def delete(rootfs: str, path: str) -> None:
    """Delete a file, symlink or empty directory."""
    _check_path(path)
    r, w = os.pipe()

    def work(out: int) -> None:
        if os.path.isdir(path) and not os.path.islink(path):
            os.rmdir(path)
        else:
            os.unlink(path)
        _header(out, {"ok": True})

    pid = os.fork()
    if pid == 0:
        os.close(r)
        _child(rootfs, work, w)
    os.close(w)
    try:
        header, _ = _read_header(r)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    _raise(header, path)
