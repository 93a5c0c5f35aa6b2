"""The processes that read and write volume streams: ``btrfs send``/``btrfs receive`` and rsync.

rsync runs as Incus runs it: the sender is an rsync client whose remote shell is a relay to the
daemon (netcat.py), the receiver is ``rsync --server``. Unlike Incus, the receiver is rsync's
single-use daemon mode with ``use chroot = yes`` on the staging directory, so a hostile sender's
file list (``..``, symlinked directories) cannot reach anything outside it; ``btrfs receive`` runs
with ``--chroot`` for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from pincus.migration import netcat
from pincus.migration.wire import CHUNK, Closer, Local, Writer

RSYNC_FLAGS = ["-aHAX", "--numeric-ids", "--sparse", "--delete", "--exclude=/.pincus-*"]
MODULE = "pincus"
_RSYNCD_CONF = """use chroot = yes
numeric ids = yes
log file = {log}
[{module}]
path = {path}
read only = no
uid = 0
gid = 0
munge symlinks = no
list = no
"""
_ERR_TAIL = 2000


def _failure(what: str, rc: int | None, err: bytes) -> str:
    if rc == 0:
        return ""
    text = err.decode(errors="replace").strip()[-_ERR_TAIL:]
    return f"{what} failed (exit status {rc}){': ' + text if text else ''}"


async def _spawn(argv: list[str], stdin: bool, stdout: bool) -> asyncio.subprocess.Process:
    pipe, null = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
    return await asyncio.create_subprocess_exec(
        *argv, stdin=pipe if stdin else null, stdout=pipe if stdout else null, stderr=pipe,
        start_new_session=True,
    )


def _stdin_of(proc: asyncio.subprocess.Process) -> tuple[Writer, Closer]:
    """Write to a process's stdin (waiting for the pipe to drain), and close it."""
    assert proc.stdin is not None
    stdin = proc.stdin

    async def write(data: bytes) -> None:
        stdin.write(data)
        await stdin.drain()

    async def close() -> None:
        stdin.close()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await stdin.wait_closed()

    return write, close


def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


async def _finish(proc: asyncio.subprocess.Process, what: str, extra: Path | None = None) -> str:
    assert proc.stderr is not None
    err = await proc.stderr.read()
    rc = await proc.wait()
    if rc != 0 and extra is not None and extra.exists():
        err += b"\n" + extra.read_bytes()[-_ERR_TAIL:]
    return _failure(what, rc, err)


class Stream:
    """A Local end plus the clean-up that must run whatever happened."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []
        self.tmp: Path | None = None
        self.server: asyncio.base_events.Server | None = None

    async def cleanup(self) -> None:
        """Kill what still runs, remove temporary files."""
        for proc in self.procs:
            _kill(proc)
            with contextlib.suppress(Exception):
                await proc.wait()
        if self.server is not None:
            self.server.close()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def private_dir(self) -> Path:
        """A fresh root-only directory for sockets, configs and logs."""
        self.tmp = Path(tempfile.mkdtemp(prefix="pincus-migrate-"))
        os.chmod(self.tmp, 0o700)
        return self.tmp


async def btrfs_send(stream: Stream, path: Path, parent: Path | None) -> Local:
    """``btrfs send [-p parent] path``: a read-only subvolume as a stream."""
    argv = ["btrfs", "send", "-q", *(["-p", str(parent)] if parent else []), str(path)]
    proc = await _spawn(argv, stdin=False, stdout=True)
    stream.procs.append(proc)
    assert proc.stdout is not None
    out = proc.stdout
    return Local(read=lambda: out.read(CHUNK), write=None, close_input=None,
                 finish=lambda: _finish(proc, "btrfs send"))


async def btrfs_receive(stream: Stream, into: Path) -> Local:
    """``btrfs receive --chroot into``: the stream becomes a read-only subvolume inside ``into``."""
    proc = await _spawn(["btrfs", "receive", "-q", "-e", "--chroot", str(into)], stdin=True, stdout=False)
    stream.procs.append(proc)
    write, close = _stdin_of(proc)
    return Local(read=None, write=write, close_input=close, finish=lambda: _finish(proc, "btrfs receive"))


async def rsync_send(stream: Stream, src: Path, dest: str, link_dest: str) -> Local:
    """An rsync client sending ``src/`` to the receiver's ``dest`` (relative to its module);
    ``link_dest`` (relative to dest) is where unchanged files are hard-linked from."""
    sock_path = stream.private_dir() / "rsync.sock"
    connected: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Future()

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not connected.done():
            connected.set_result((reader, writer))
        else:
            writer.close()

    stream.server = await asyncio.start_unix_server(on_connect, path=str(sock_path))
    rsh = f"{sys.executable} -I -S {netcat.__file__} {sock_path}"
    argv = ["rsync", *RSYNC_FLAGS, *([f"--link-dest={link_dest}"] if link_dest else []),
            "-e", rsh, f"{src}/", f"x::{MODULE}/{dest}"]
    proc = await _spawn(argv, stdin=False, stdout=False)
    stream.procs.append(proc)
    exited = asyncio.ensure_future(proc.wait())
    either: list[asyncio.Future[Any]] = [connected, exited]  # two result types: wait() needs one
    done, _ = await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED, timeout=60)
    if connected not in done:
        exited.cancel()
        _kill(proc)
        failure = await _finish(proc, "rsync")
        return Local(read=_empty, write=_drop, close_input=None, finish=lambda: _const(failure or "rsync did not start"))
    exited.cancel()
    reader, writer = connected.result()

    async def write(data: bytes) -> None:
        writer.write(data)
        await writer.drain()

    async def close() -> None:
        if writer.can_write_eof():
            with contextlib.suppress(OSError):
                writer.write_eof()

    async def finish() -> str:
        result = await _finish(proc, "rsync")
        writer.close()
        return result

    return Local(read=lambda: reader.read(CHUNK), write=write, close_input=close, finish=finish)


async def rsync_receive(stream: Stream, module_root: Path) -> Local:
    """rsync's single-use daemon, chrooted into ``module_root``, on stdin/stdout."""
    tmp = stream.private_dir()
    log, conf = tmp / "rsyncd.log", tmp / "rsyncd.conf"
    conf.write_text(_RSYNCD_CONF.format(log=log, module=MODULE, path=module_root))
    proc = await _spawn(["rsync", "--server", "--daemon", f"--config={conf}", "."], stdin=True, stdout=True)
    stream.procs.append(proc)
    assert proc.stdout is not None
    stdout = proc.stdout
    write, close = _stdin_of(proc)
    return Local(read=lambda: stdout.read(CHUNK), write=write, close_input=close,
                 finish=lambda: _finish(proc, "rsync", log))


async def _empty() -> bytes:
    return b""


async def _drop(data: bytes) -> None:
    return None


async def _const(value: str) -> str:
    return value
