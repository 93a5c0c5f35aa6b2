"""Helpers for storage tests: small trees with every kind of entry, and tree comparison."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

IS_ROOT = os.geteuid() == 0


def build_tree(root: Path) -> None:
    """A small tree with files, a hole, hard links, symlinks, a fifo, xattrs and odd modes."""
    (root / "etc/sub").mkdir(parents=True)
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n")
    (root / "etc/empty").write_bytes(b"")
    (root / "bin").mkdir()
    (root / "bin/busybox").write_bytes(os.urandom(70_000))
    os.chmod(root / "bin/busybox", 0o4755)
    os.link(root / "bin/busybox", root / "bin/sh")
    os.symlink("busybox", root / "bin/ls")
    os.symlink("/nonexistent/target", root / "etc/dangling")
    os.mkfifo(root / "etc/fifo")
    with open(root / "etc/sparse", "wb") as fh:
        fh.truncate(8 << 20)
        fh.seek(4 << 20)
        fh.write(b"data in the middle")
    try:
        os.setxattr(root / "etc/hosts", "user.pincus", b"value")
    except OSError:
        pass
    os.chmod(root / "etc/sub", 0o750)
    os.utime(root / "etc/sub", ns=(1_000_000_000, 978_307_200_123_456_789))
    if IS_ROOT:
        os.mknod(root / "etc/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.chown(root / "etc/hosts", 1234, 5678)
        os.lchown(root / "bin/ls", 4321, 8765)


def rsync_differences(src: Path, dst: Path, *extra: str) -> list[str]:
    """What rsync would change to make dst equal src (same checks as Incus's copy); [] when equal."""
    argv = ["rsync", "-naHAX", "--sparse", "--numeric-ids", "--delete", "-i", "--checksum", *extra]
    out = subprocess.run([*argv, f"{src}/", f"{dst}/"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


needs_rsync = pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync not installed")
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root")


def inodes(root: Path) -> set[tuple[int, int]]:
    """(dev, ino) of every regular file below root."""
    out = set()
    for dirpath, _, files in os.walk(root):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISREG(st.st_mode):
                out.add((st.st_dev, st.st_ino))
    return out


def settle(directory: Path) -> None:
    """Wait until the filesystem clock moved past now: trust needs a ctime strictly older than a stamp."""
    from pincus.storage.drivers._fstime import fs_now_ns

    first = fs_now_ns(directory)
    while fs_now_ns(directory) <= first:
        time.sleep(0.002)
