"""The btrfs driver on a real loop-file btrfs (root), with the btrfsutil binding and with the CLI."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pincus.base.errors import Conflict, InsufficientSpace, NotFound
from pincus.base.revert import Reverter
from pincus.storage.drivers import btrfs_utils as bu
from pincus.storage.drivers.base import CONTAINER, IMAGE, Volume
from pincus.storage.drivers.btrfs import BtrfsDriver
from tests.integration.storage._pool_helpers import btrfs_pool, digest, fill, needs_btrfs

pytestmark = [pytest.mark.btrfs, needs_btrfs]

C1 = Volume("p", CONTAINER, "c1")


@pytest.fixture(params=["binding", "cli"])
def pool(request: pytest.FixtureRequest, scratch: Path) -> Iterator[BtrfsDriver]:
    if request.param == "binding" and bu._binding is None:
        pytest.skip("btrfsutil binding not installed")
    bu.use_binding(request.param == "binding")
    try:
        with btrfs_pool(scratch) as driver:
            yield driver
    finally:
        bu.use_binding(True)


def all_subvolumes(driver: BtrfsDriver) -> list[str]:
    out = subprocess.run(
        ["btrfs", "subvolume", "list", "-o", str(driver.pool_path)], capture_output=True, text=True
    )
    return [line.split(" path ", 1)[1] for line in out.stdout.splitlines()]


def test_pool_is_a_mounted_sparse_loop_file(scratch: Path) -> None:
    with btrfs_pool(scratch, size="1GiB") as driver:
        img = scratch / "disks" / f"{driver.pool_name}.img"
        assert driver.config["source"] == str(img) and driver.config["size"] == "1GiB"
        assert img.stat().st_size == 2**30 and img.stat().st_blocks * 512 < 2**30
        fstype, device = bu.mount_of(driver.pool_path) or ("", "")
        assert fstype == "btrfs" and bu.loop_backing_file(device) == str(img)
        options = next(
            line
            for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if str(driver.pool_path) in line
        )
        assert "discard=async" in options and "user_subvol_rm_allowed" in options
        assert {"containers", "containers-snapshots", "images"} <= set(os.listdir(driver.pool_path))
        driver.mount_pool()  # idempotent
        assert (
            sum(str(driver.pool_path) in line for line in Path("/proc/self/mounts").read_text().splitlines())
            == 1
        )
        driver.unmount_pool()
        driver.unmount_pool()
        assert bu.mount_of(driver.pool_path) is None
        assert subprocess.run(["losetup", "-j", str(img)], capture_output=True, text=True).stdout == ""
        driver.mount_pool()
        used, total = driver.usage()
        assert 0 < used < total <= 2**30
    assert not img.exists() and not driver.pool_path.exists()


def test_second_pool_with_the_same_image_is_a_conflict(scratch: Path) -> None:
    with btrfs_pool(scratch) as driver:
        twin = BtrfsDriver(driver.pool_name, scratch / "storage-pools/twin", {"size": "512MiB"})
        with pytest.raises(Conflict):
            twin.create_pool()
        assert driver.config["source"].endswith(".img")


def test_volumes_are_subvolumes_and_snapshots_read_only(pool: BtrfsDriver) -> None:
    pool.create_volume(C1, fill)
    live = pool.volume_path(C1)
    assert bu.is_subvolume(live) and not bu.get_read_only(live)
    pool.create_snapshot(C1.snapshot("s0"))
    snap = pool.volume_path(C1.snapshot("s0"))
    assert bu.is_subvolume(snap) and bu.get_read_only(snap)
    with pytest.raises(OSError) as info:
        (snap / "rootfs/new").write_text("x")
    assert info.value.errno == errno.EROFS
    assert digest(snap) == digest(live)
    assert pool.list_snapshots(C1) == ["s0"]


def test_restore_delete_and_rename(pool: BtrfsDriver) -> None:
    pool.create_volume(C1, fill)
    pool.create_snapshot(C1.snapshot("s0"))
    before = digest(pool.volume_path(C1))
    (pool.volume_path(C1) / "rootfs/this_file.txt").write_text("x")
    pool.create_snapshot(C1.snapshot("s1"))
    pool.restore_snapshot(C1, C1.snapshot("s0"))
    assert digest(pool.volume_path(C1)) == before
    assert not bu.get_read_only(pool.volume_path(C1))
    assert pool.list_snapshots(C1) == ["s0", "s1"]
    pool.rename_snapshot(C1.snapshot("s1"), "later")
    pool.rename_volume(C1, "c2")
    c2 = Volume("p", CONTAINER, "c2")
    assert pool.list_snapshots(c2) == ["later", "s0"]
    pool.delete_snapshot(c2.snapshot("s0"))
    pool.delete_volume(c2)
    assert all_subvolumes(pool) == []
    assert os.listdir(pool.pool_path / "containers") == []


def test_restore_can_leave_the_old_subvolume_for_later(pool: BtrfsDriver) -> None:
    pool.create_volume(C1, fill)
    pool.create_snapshot(C1.snapshot("s0"))
    before = digest(pool.volume_path(C1))
    (pool.volume_path(C1) / "rootfs/after").write_text("x")
    replaced = pool.restore_snapshot(C1, C1.snapshot("s0"), defer_delete=True)
    assert digest(pool.volume_path(C1)) == before
    assert len(replaced) == 1 and replaced[0].name.startswith("delete-")
    assert replaced[0].parent == pool.pool_path / ".pincus-work"
    assert (replaced[0] / "rootfs/after").read_text() == "x"  # the replaced tree, set aside whole
    assert pool.list_snapshots(C1) == ["s0"]
    pool.delete_path(replaced[0])
    assert not replaced[0].exists()
    again = pool.restore_snapshot(C1, C1.snapshot("s0"), defer_delete=True)
    assert "Deleted leftover" in " ".join(pool.recover())  # as after a crash before the deletion
    assert not again[0].exists()
    pool.delete_volume(C1)
    assert all_subvolumes(pool) == []


def test_nested_subvolumes_are_snapshotted_restored_and_deleted(pool: BtrfsDriver) -> None:
    pool.create_volume(C1, fill)
    live = pool.volume_path(C1)
    bu.create_subvolume(live / "rootfs/var")
    bu.create_subvolume(live / "rootfs/var/lib")
    (live / "rootfs/var/lib/data").write_text("v1")
    pool.create_snapshot(C1.snapshot("s0"))
    snap = pool.volume_path(C1.snapshot("s0"))
    assert (snap / "rootfs/var/lib/data").read_text() == "v1"
    assert bu.get_read_only(snap / "rootfs/var/lib") and bu.get_read_only(snap)
    (live / "rootfs/var/lib/data").write_text("v2")
    pool.restore_snapshot(C1, C1.snapshot("s0"))
    assert (live / "rootfs/var/lib/data").read_text() == "v1"
    assert bu.is_subvolume(live / "rootfs/var/lib") and not bu.get_read_only(live / "rootfs/var/lib")
    pool.delete_volume(C1)
    assert all_subvolumes(pool) == []


def test_image_is_read_only_and_clones_writable(pool: BtrfsDriver) -> None:
    image = Volume("p", IMAGE, "f00d")
    pool.create_volume(image, fill)
    assert bu.get_read_only(pool.volume_path(image))
    pool.create_volume_from_copy(C1, image)
    live = pool.volume_path(C1)
    assert not bu.get_read_only(live) and digest(live) == digest(pool.volume_path(image))
    (live / "rootfs/etc/hosts").write_text("mine")
    pool.delete_volume(C1)
    pool.delete_volume(image)
    assert all_subvolumes(pool) == []


def test_volume_size_uses_qgroups_when_enabled(pool: BtrfsDriver) -> None:
    pool.create_volume(C1, fill)
    assert pool.volume_size(C1) == -1
    subprocess.run(["btrfs", "quota", "enable", str(pool.pool_path)], check=True)
    subprocess.run(["btrfs", "quota", "rescan", "-w", str(pool.pool_path)], check=True, capture_output=True)
    (pool.volume_path(C1) / "rootfs/big").write_bytes(os.urandom(1 << 20))
    subprocess.run(["btrfs", "filesystem", "sync", str(pool.pool_path)], check=True)
    deadline = time.monotonic() + 10
    while pool.volume_size(C1) < 1 << 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pool.volume_size(C1) >= 1 << 20
    subprocess.run(["btrfs", "quota", "disable", str(pool.pool_path)], check=True)


def test_full_pool_is_insufficient_space_and_leaves_nothing(scratch: Path) -> None:
    with btrfs_pool(scratch, size="256MiB") as driver:

        def huge(path: Path) -> None:
            with open(path / "big", "wb") as fh:
                for _ in range(400):
                    fh.write(os.urandom(1 << 20))
                os.fsync(fh.fileno())

        with pytest.raises(InsufficientSpace, match='Failed creating volume "c1" in pool'):
            driver.create_volume(C1, huge)
        assert os.listdir(driver.pool_path / "containers") == []
        assert all_subvolumes(driver) == []


def test_missing_and_existing(pool: BtrfsDriver) -> None:
    with pytest.raises(NotFound):
        pool.create_snapshot(C1.snapshot("s0"))
    pool.create_volume(C1, fill)
    pool.create_snapshot(C1.snapshot("s0"))
    with pytest.raises(Conflict):
        pool.create_snapshot(C1.snapshot("s0"))
    with pytest.raises(NotFound):
        pool.restore_snapshot(C1, C1.snapshot("nope"))
    pool.delete_snapshot(C1.snapshot("nope"))


class Crash(BaseException):
    """The process died here."""


@pytest.mark.parametrize("nth", [1, 2])
def test_restore_crash_is_recovered(pool: BtrfsDriver, monkeypatch: pytest.MonkeyPatch, nth: int) -> None:
    pool.create_volume(C1, fill)
    pool.create_snapshot(C1.snapshot("s0"))
    (pool.volume_path(C1) / "rootfs/this_file.txt").write_text("x")
    old, new = digest(pool.volume_path(C1)), digest(pool.volume_path(C1.snapshot("s0")))
    real, calls = os.rename, [0]

    def rename(a: object, b: object) -> None:
        real(a, b)  # type: ignore[arg-type]
        calls[0] += 1
        if calls[0] == nth:
            raise Crash

    monkeypatch.setattr(Reverter, "fail", lambda self: None)
    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(Crash):
        pool.restore_snapshot(C1, C1.snapshot("s0"))
    monkeypatch.undo()
    assert os.listdir(pool.pool_path / ".pincus-work")
    assert pool.recover()
    assert os.listdir(pool.pool_path / "containers") == ["c1"] and os.listdir(pool.pool_path / ".pincus-work") == []
    assert digest(pool.volume_path(C1)) in (old, new)


def test_recover_deletes_read_only_leftovers(pool: BtrfsDriver) -> None:
    pool.create_volume(C1, fill)
    work = pool.pool_path / ".pincus-work"
    bu.snapshot_tree(pool.volume_path(C1), work / "xfer-0a1b", read_only=True)
    bu.snapshot_tree(pool.volume_path(C1), work / "restore-containers-c1", read_only=False)
    assert len(pool.recover()) == 2
    assert all_subvolumes(pool) == ["containers/c1"]


def test_snapshots_named_like_work_trees_survive_recovery(pool: BtrfsDriver) -> None:
    pool.create_volume(C1, fill)
    for name in (".tmp-s0", ".delete-s1", ".old-s2", ".tmp-xfer-s3"):
        pool.create_snapshot(C1.snapshot(name))
    pool.create_snapshot(C1.snapshot("s4"))
    pool.restore_snapshot(C1, C1.snapshot("s4"))
    pool.recover()
    assert pool.list_snapshots(C1) == [".delete-s1", ".old-s2", ".tmp-s0", ".tmp-xfer-s3", "s4"]
    pool.delete_volume(C1)
    assert all_subvolumes(pool) == []


def test_pool_in_an_existing_btrfs_directory(pool: BtrfsDriver, scratch: Path) -> None:
    source = pool.pool_path / "custom" / "inner-pool"
    source.mkdir()
    inner = BtrfsDriver("inner", scratch / "storage-pools/inner", {"source": str(source)})
    inner.create_pool()
    inner.create_volume(C1, fill)
    inner.create_snapshot(C1.snapshot("s0"))
    assert bu.is_subvolume(source / "containers-snapshots/c1/s0")
    assert (scratch / "storage-pools/inner/containers/c1/backup.yaml").exists()
    inner.delete_volume(C1)
    inner.delete_pool()
    assert source.is_dir() and not os.path.lexists(scratch / "storage-pools/inner")
    source.rmdir()


def test_pool_on_a_block_device(scratch: Path) -> None:
    img = scratch / "block.img"
    with open(img, "wb") as fh:
        fh.truncate(512 << 20)
    dev = subprocess.run(
        ["losetup", "--find", "--show", str(img)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        driver = BtrfsDriver("blk", scratch / "storage-pools/blk", {"source": dev})
        driver.create_pool()
        driver.create_volume(C1, fill)
        driver.create_snapshot(C1.snapshot("s0"))
        driver.unmount_pool()
        driver.mount_pool()
        assert driver.list_snapshots(C1) == ["s0"]
        driver.delete_volume(C1)
        driver.delete_pool()
        assert bu.mount_of(scratch / "storage-pools/blk") is None
    finally:
        if bu.mount_of(scratch / "storage-pools/blk") is not None:
            subprocess.run(["umount", str(scratch / "storage-pools/blk")], check=False)
        subprocess.run(["losetup", "-d", dev], check=False)  # only the device made above


def test_btrfs_mount_options_key_replaces_the_defaults(scratch: Path) -> None:
    with btrfs_pool(scratch, **{"btrfs.mount_options": "noatime,user_subvol_rm_allowed"}) as driver:
        options = next(line for line in Path("/proc/self/mountinfo").read_text().splitlines()
                       if str(driver.pool_path) in line)
        assert "noatime" in options and "user_subvol_rm_allowed" in options
