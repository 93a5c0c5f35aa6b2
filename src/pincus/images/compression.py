"""Detect an image file's compression from its magic bytes and open it as a plain tar stream.

The magic table follows Incus's shared/archive/detect.go, so a file Incus accepts is recognised
here the same way. gzip, xz, lzma and bzip2 can decompress in-process; zstd and lz4 need their
command-line tools.
"""

from __future__ import annotations

import bz2
import contextlib
import fcntl
import gzip
import lzma
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pincus.base.errors import InvalidArgument


@dataclass(frozen=True)
class Compression:
    """One recognised file format: its name, Incus-style extension and how to decompress it."""

    name: str
    extension: str
    tool: tuple[str, ...] = ()
    builtin: Callable[..., Any] | None = None

    @property
    def is_tar(self) -> bool:
        """True when the file holds a (possibly compressed) tarball."""
        return self.extension.startswith(".tar")


GZIP = Compression("gzip", ".tar.gz", ("gzip", "-d", "-c"), gzip.open)
XZ = Compression("xz", ".tar.xz", ("xz", "-d", "-c", "-T0"), lzma.open)
LZMA = Compression("lzma", ".tar.lzma", ("xz", "--format=lzma", "-d", "-c"), lzma.open)
BZIP2 = Compression("bzip2", ".tar.bz2", ("bzip2", "-d", "-c"), bz2.open)
ZSTD = Compression("zstd", ".tar.zst", ("zstd", "-d", "-c", "-q"))
LZ4 = Compression("lz4", ".tar.lz4", ("lz4", "-d", "-c", "-q"))
NONE = Compression("none", ".tar")
SQUASHFS = Compression("squashfs", ".squashfs")
QCOW2 = Compression("qcow2", ".qcow2")


def detect_compression(path: str | Path) -> Compression:
    """Identify a file's format from its first 263 bytes, as Incus does."""
    with open(path, "rb") as f:
        head = f.read(263)
    return detect_compression_bytes(head)


def detect_compression_bytes(head: bytes) -> Compression:
    """Identify a format from a file's leading bytes."""
    if head[:2] == b"BZ":
        return BZIP2
    if head[:2] == b"\x1f\x8b":
        return GZIP
    if len(head) >= 5 and head[1:5] == b"7zXZ":
        return XZ if head[0] == 0xFD else LZMA
    if head[:3] == b"\x5d\x00\x00":
        return LZMA
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return ZSTD
    if head[:4] == b"\x04\x22\x4d\x18":
        return LZ4
    if head[257:262] == b"ustar":
        return NONE
    if head[:4] == b"hsqs":
        return SQUASHFS
    if head[:3] == b"QFI":
        return QCOW2
    if not head:
        raise InvalidArgument("Invalid image tarball: the file is empty")
    raise InvalidArgument("Invalid image tarball: unsupported compression (not gzip, xz, lzma, bzip2, zstd, lz4 or tar)")


def widen_pipe(fd: int, size: int = 1 << 20) -> None:
    """Grow a pipe's buffer (fewer context switches between the processes of a pipeline)."""
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)


@contextlib.contextmanager
def open_tar_stream(
    path: str | Path, comp: Compression | None = None, *, prefer_tool: bool = False
) -> Iterator[IO[bytes]]:
    """Yield a readable stream of the decompressed tar bytes of `path`.

    gzip, xz, lzma and bzip2 decompress in-process unless prefer_tool is set and the tool is
    installed (a separate process decompresses on another core while the caller works).
    """
    comp = comp or detect_compression(path)
    if not comp.is_tar:
        raise InvalidArgument(f"Invalid image tarball: a {comp.name} file is not a tarball")
    use_tool = bool(comp.tool) and (comp.builtin is None or (prefer_tool and shutil.which(comp.tool[0])))
    if use_tool:
        with _tool_stream(path, comp) as stream:
            yield stream
        return
    opener = comp.builtin or open
    with opener(path, "rb") as stream:
        yield stream


@contextlib.contextmanager
def _tool_stream(path: str | Path, comp: Compression) -> Iterator[IO[bytes]]:
    if shutil.which(comp.tool[0]) is None:
        raise InvalidArgument(f"Invalid image tarball: {comp.name} compression needs the `{comp.tool[0]}` tool")
    with open(path, "rb") as src, tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(comp.tool, stdin=src, stdout=subprocess.PIPE, stderr=errors)
        assert proc.stdout is not None
        widen_pipe(proc.stdout.fileno())
        drained = False
        try:
            yield proc.stdout
            drained = proc.stdout.read(1) == b""
        finally:
            proc.stdout.close()
            rc = proc.wait()
        # A reader that stopped early closes the pipe and the tool dies of SIGPIPE: not an error.
        if drained and rc != 0:
            errors.seek(0)
            err = errors.read().decode(errors="replace").strip() or f"exit status {rc}"
            raise InvalidArgument(f"Invalid image tarball: {comp.tool[0]} failed: {err}")
