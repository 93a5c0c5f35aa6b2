"""Real pools for storage integration tests: btrfs on a loop file in a unique scratch directory.

Everything lives under /var/tmp/pincus-test-<random>/ and is unmounted and removed afterwards;
only the mount this code made is ever unmounted.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pincus.storage.drivers import btrfs_utils as bu
from pincus.storage.drivers.btrfs import BtrfsDriver
from pincus.storage.drivers.dir import DirDriver

IS_ROOT = os.geteuid() == 0
CAN_BTRFS = (
    IS_ROOT and shutil.which("mkfs.btrfs") is not None and "btrfs" in Path("/proc/filesystems").read_text()
)
needs_btrfs = pytest.mark.skipif(not CAN_BTRFS, reason="needs root, btrfs and btrfs-progs")


@contextmanager
def scratch_dir() -> Iterator[Path]:
    """A unique /var/tmp/pincus-test-* directory, removed afterwards unless something is still mounted."""
    base = Path(tempfile.mkdtemp(prefix="pincus-test-", dir="/var/tmp"))
    try:
        yield base
    finally:
        mounted = [
            line for line in Path("/proc/self/mountinfo").read_text().splitlines() if f" {base}/" in line
        ]
        if not mounted:
            shutil.rmtree(base, ignore_errors=True)


@contextmanager
def btrfs_pool(base: Path, size: str = "512MiB", **config: str) -> Iterator[BtrfsDriver]:
    """A created and mounted btrfs loop pool under base; unmounted and deleted afterwards."""
    name = base.name
    driver = BtrfsDriver(name, base / "storage-pools" / name, {"size": size, **config})
    driver.create_pool()
    try:
        yield driver
    finally:
        _teardown(driver)


def _teardown(driver: BtrfsDriver) -> None:
    try:
        for entry in ("containers", "containers-snapshots", "images"):
            top = driver.root() / entry
            if top.is_dir():
                for child in os.listdir(top):
                    bu.delete_tree(top / child)
        driver.delete_pool()
    finally:
        if bu.mount_of(driver.pool_path) is not None and driver._mounted_here():
            subprocess.run(["umount", str(driver.pool_path)], check=False)


@contextmanager
def dir_pool(base: Path) -> Iterator[DirDriver]:
    """A dir pool under base."""
    driver = DirDriver("default", base / "storage-pools" / "default", {})
    driver.create_pool()
    yield driver


def build_tree(root: Path) -> None:
    """A small rootfs with every kind of entry the drivers must keep."""
    (root / "etc/sub").mkdir(parents=True)
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n")
    (root / "bin").mkdir()
    (root / "bin/busybox").write_bytes(os.urandom(50_000))
    os.chmod(root / "bin/busybox", 0o4755)
    os.link(root / "bin/busybox", root / "bin/sh")
    os.symlink("busybox", root / "bin/ls")
    os.mkfifo(root / "etc/fifo")
    os.mknod(root / "etc/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.chown(root / "etc/hosts", 1234, 5678)
    os.setxattr(root / "etc/hosts", "user.pincus", b"value")
    os.utime(root / "etc/sub", ns=(1_000_000_000, 978_307_200_123_456_789))
    with open(root / "etc/sparse", "wb") as fh:
        fh.truncate(4 << 20)
        fh.seek(1 << 20)
        fh.write(b"x")


def fill(path: Path) -> None:
    """The filler used by the tests: a rootfs and a backup.yaml, like the daemon writes."""
    (path / "rootfs").mkdir()
    build_tree(path / "rootfs")
    (path / "backup.yaml").write_text("name: c1\n")


def digest(root: Path) -> dict[str, tuple[object, ...]]:
    """What a tree holds, entry by entry (markers of the dir driver left out)."""
    out: dict[str, tuple[object, ...]] = {}
    inode_names: dict[tuple[int, int], str] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            p = Path(dirpath, name)
            rel = str(p.relative_to(root))
            if rel.startswith(".pincus-"):
                continue
            st = os.lstat(p)
            extra: object = None
            if stat.S_ISREG(st.st_mode):
                extra = hashlib.sha256(p.read_bytes()).hexdigest()
                extra = (extra, inode_names.setdefault((st.st_dev, st.st_ino), rel))
            elif stat.S_ISLNK(st.st_mode):
                extra = os.readlink(p)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                extra = st.st_rdev
            xattrs = tuple(sorted(os.listxattr(p, follow_symlinks=False)))
            mtime = None if stat.S_ISDIR(st.st_mode) and rel.count("/") == 0 else st.st_mtime_ns
            out[rel] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, mtime, extra, xattrs)
    return out


def settle(directory: Path) -> None:
    """Let the filesystem clock tick past every change made so far."""
    from pincus.storage.drivers._fstime import fs_tick_ns

    fs_tick_ns(directory)
    time.sleep(0.001)
