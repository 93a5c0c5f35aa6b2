"""Builders for small image tarballs (benign and hostile) used by the image tests."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import subprocess
import tarfile
from collections.abc import Callable

import pytest

METADATA = b"""architecture: x86_64
creation_date: 1700000000
properties:
  os: Busybox
  release: "1.36"
  description: test image
templates:
  /etc/hostname:
    when:
    - create
    - copy
    template: hostname.tpl
"""


def member(name: str, data: bytes = b"", **attrs: object) -> tuple[tarfile.TarInfo, bytes]:
    """A TarInfo (regular file unless type= says otherwise) plus its data."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1700000000
    info.mode = 0o644
    for key, value in attrs.items():
        setattr(info, key, value)
    if info.type != tarfile.REGTYPE:
        info.size = 0
    return info, data


def dir_member(name: str, **attrs: object) -> tuple[tarfile.TarInfo, bytes]:
    """A directory member."""
    options: dict[str, object] = {"type": tarfile.DIRTYPE, "mode": 0o755, **attrs}
    return member(name, b"", **options)


def symlink(name: str, target: str) -> tuple[tarfile.TarInfo, bytes]:
    """A symlink member."""
    return member(name, type=tarfile.SYMTYPE, linkname=target, mode=0o777)


def hardlink(name: str, target: str) -> tuple[tarfile.TarInfo, bytes]:
    """A hard link member."""
    return member(name, type=tarfile.LNKTYPE, linkname=target)


def tar_bytes(entries: list[tuple[tarfile.TarInfo, bytes]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """An uncompressed tarball holding the entries, in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "none": lambda b: b,
    "gzip": gzip.compress,
    "xz": lzma.compress,
    "bzip2": bz2.compress,
    "zstd": lambda b: subprocess.run(["zstd", "-q", "-c"], input=b, capture_output=True, check=True).stdout,
    "lz4": lambda b: subprocess.run(["lz4", "-q", "-c"], input=b, capture_output=True, check=True).stdout,
    "lzma": lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE),
}


def basic_rootfs(prefix: str = "rootfs/") -> list[tuple[tarfile.TarInfo, bytes]]:
    """A tiny root filesystem: dirs, a file, a symlink, a hard link, a dev node."""
    return [
        dir_member(prefix.rstrip("/") or "."),
        dir_member(prefix + "bin"),
        member(prefix + "bin/busybox", b"#!/bin/sh\necho hi\n", mode=0o755),
        symlink(prefix + "bin/sh", "/bin/busybox"),
        hardlink(prefix + "bin/ash", prefix + "bin/busybox"),
        dir_member(prefix + "etc"),
        member(prefix + "etc/hostname", b"busybox\n"),
        dir_member(prefix + "dev"),
        member(prefix + "dev/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666),
    ]


def unified_entries() -> list[tuple[tarfile.TarInfo, bytes]]:
    """metadata.yaml, templates/ and rootfs/ as in a unified image."""
    return [
        member("metadata.yaml", METADATA),
        dir_member("templates"),
        member("templates/hostname.tpl", b"{{ container.name }}\n"),
        *basic_rootfs(),
    ]


requires_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (ownership, device nodes)")
