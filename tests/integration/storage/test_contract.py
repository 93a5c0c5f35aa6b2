"""dir, btrfs and the fake keep the same contract: the same calls give the same trees, names and errors."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pincus.base.errors import Conflict, NotFound, PincusError
from pincus.storage.drivers.base import CONTAINER, IMAGE, StorageDriver, Volume
from pincus.storage.drivers.fake import FakeDriver
from tests.integration.storage._pool_helpers import (
    IS_ROOT,
    btrfs_pool,
    digest,
    dir_pool,
    fill,
    needs_btrfs,
    settle,
)

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="the test trees hold device nodes and owners")

C1 = Volume("p", CONTAINER, "c1")
C2 = Volume("p", CONTAINER, "c2")


@pytest.fixture(params=["fake", "dir", pytest.param("btrfs", marks=[pytest.mark.btrfs, needs_btrfs])])
def driver(request: pytest.FixtureRequest, scratch: Path) -> Iterator[StorageDriver]:
    if request.param == "fake":
        fake = FakeDriver("default", scratch / "storage-pools" / "default", {})
        fake.create_pool()
        yield fake
    elif request.param == "dir":
        with dir_pool(scratch) as d:
            yield d
    else:
        with btrfs_pool(scratch) as b:
            yield b


def test_layout_and_paths(driver: StorageDriver) -> None:
    driver.create_volume(C1, fill)
    root = driver.volume_path(C1).parent.parent
    assert driver.volume_path(C1) == root / "containers/c1"
    assert driver.volume_path(C1.snapshot("s0")) == root / "containers-snapshots/c1/s0"
    assert driver.volume_exists(C1) and not driver.volume_exists(C1.snapshot("s0"))
    assert (driver.volume_path(C1) / "backup.yaml").read_text() == "name: c1\n"


def test_snapshot_restore_cycle_of_the_book(driver: StorageDriver) -> None:
    driver.create_volume(C1, fill)
    live = driver.volume_path(C1)
    original = digest(live)
    settle(live)
    driver.create_snapshot(C1.snapshot("ubuntu-test-1"))
    assert digest(driver.volume_path(C1.snapshot("ubuntu-test-1"))) == original
    (live / "rootfs/this_file.txt").write_text("x")
    (live / "rootfs/etc/hosts").write_text("changed\n")
    changed = digest(live)
    driver.create_snapshot(C1.snapshot("s2"))
    driver.restore_snapshot(C1, C1.snapshot("ubuntu-test-1"))
    assert digest(live) == original
    assert digest(driver.volume_path(C1.snapshot("s2"))) == changed
    assert driver.list_snapshots(C1) == ["s2", "ubuntu-test-1"]
    driver.delete_snapshot(C1.snapshot("ubuntu-test-1"))
    assert driver.list_snapshots(C1) == ["s2"]
    driver.restore_snapshot(C1, C1.snapshot("s2"))
    assert digest(live) == changed


def test_copies(driver: StorageDriver) -> None:
    image = Volume("p", IMAGE, "f00d")
    driver.create_volume(image, fill)
    driver.create_volume_from_copy(C1, image)
    assert digest(driver.volume_path(C1)) == digest(driver.volume_path(image))
    driver.create_snapshot(C1.snapshot("s0"))
    driver.create_volume_from_copy(C2, C1.snapshot("s0"))
    driver.create_volume_from_copy(Volume("p", CONTAINER, "c3"), C1)
    driver.create_volume_from_copy(C2.snapshot("s0"), C1.snapshot("s0"))
    for vol in (C2, Volume("p", CONTAINER, "c3"), C2.snapshot("s0")):
        assert digest(driver.volume_path(vol)) == digest(driver.volume_path(C1)), vol.name
    (driver.volume_path(C2) / "rootfs/etc/hosts").write_text("c2 only\n")
    assert (driver.volume_path(C1) / "rootfs/etc/hosts").read_text() == "127.0.0.1 localhost\n"
    assert (driver.volume_path(C1.snapshot("s0")) / "rootfs/etc/hosts").read_text() == "127.0.0.1 localhost\n"


def test_renames_and_deletes(driver: StorageDriver) -> None:
    driver.create_volume(C1, fill)
    driver.create_snapshot(C1.snapshot("s0"))
    driver.rename_snapshot(C1.snapshot("s0"), "s1")
    driver.rename_volume(C1, "c2")
    assert not driver.volume_exists(C1) and driver.list_snapshots(C2) == ["s1"]
    driver.delete_volume(C2)
    assert not driver.volume_exists(C2) and driver.list_snapshots(C2) == []
    root = driver.volume_path(C2).parent.parent
    assert os.listdir(root / "containers") == [] and os.listdir(root / "containers-snapshots") == []
    driver.delete_volume(C2)
    driver.delete_snapshot(C2.snapshot("s1"))


def error_of(call: object) -> type[PincusError] | None:
    try:
        call()  # type: ignore[operator]
    except PincusError as exc:
        return type(exc)
    return None


def test_same_errors(driver: StorageDriver) -> None:
    assert error_of(lambda: driver.create_snapshot(C1.snapshot("s0"))) is NotFound
    assert error_of(lambda: driver.create_volume_from_copy(C2, C1)) is NotFound
    driver.create_volume(C1, fill)
    driver.create_snapshot(C1.snapshot("s0"))
    assert error_of(lambda: driver.create_volume(C1, fill)) is Conflict
    assert error_of(lambda: driver.create_snapshot(C1.snapshot("s0"))) is Conflict
    assert error_of(lambda: driver.restore_snapshot(C1, C1.snapshot("nope"))) is NotFound
    assert error_of(lambda: driver.rename_snapshot(C1.snapshot("nope"), "x")) is NotFound
    driver.create_volume(C2, fill)
    assert error_of(lambda: driver.rename_volume(C1, "c2")) is Conflict


def test_same_recovery(driver: StorageDriver) -> None:
    driver.create_volume(C1, fill)
    driver.create_snapshot(C1.snapshot("s0"))
    live, snap = driver.volume_path(C1), driver.volume_path(C1.snapshot("s0"))
    before = digest(live)
    work = driver.layout.work_dir  # type: ignore[attr-defined]
    os.rename(live, work / "old-containers-c1")  # a crash halfway through a restore's swap
    driver.copy_to(C1.snapshot("s0"), work / "restore-containers-c2")
    driver.snapshot_to(C1.snapshot("s0"), work / "xfer-1a2b")
    assert len(driver.recover()) == 3
    assert digest(live) == before and driver.list_snapshots(C1) == ["s0"]
    assert sorted(os.listdir(live.parent)) == ["c1"] and os.listdir(snap.parent) == ["s0"]
    assert os.listdir(work) == [] and driver.recover() == []


def test_same_restore_steps(driver: StorageDriver) -> None:
    driver.create_volume(C1, fill)
    driver.create_snapshot(C1.snapshot("s0"))
    live, before = driver.volume_path(C1), digest(driver.volume_path(C1.snapshot("s0")))
    (live / "rootfs/changed").write_text("x")
    changed = digest(live)
    driver.stage_restore(C1, C1.snapshot("s0"))  # the dir driver takes unchanged subtrees along
    assert driver.abort_restore(C1) and digest(live) == changed  # and an abort puts them back
    driver.stage_restore(C1, C1.snapshot("s0"))
    driver.commit_restore(C1, C1.snapshot("s0"))
    driver.commit_restore(C1, C1.snapshot("s0"))  # resumable: a finished commit is a no-op
    assert digest(live) == before


def test_usage(driver: StorageDriver) -> None:
    used, total = driver.usage()
    assert 0 < used <= total


def test_resumable_renames(driver: StorageDriver) -> None:
    driver.create_volume(C1, fill)
    driver.create_snapshot(C1.snapshot("s0"))
    before = digest(driver.volume_path(C1))
    snaps_of = driver.volume_path(C1.snapshot("s0")).parent
    os.rename(snaps_of, snaps_of.with_name("c2"))  # a crash after the snapshots directory moved
    driver.rename_volume(C1, "c2")
    driver.rename_volume(C1, "c2")  # done already: no error, nothing changes
    assert not driver.volume_exists(C1) and digest(driver.volume_path(C2)) == before
    assert driver.list_snapshots(C2) == ["s0"] and driver.list_snapshots(C1) == []
    driver.rename_snapshot(C2.snapshot("s0"), "s1")
    driver.rename_snapshot(C2.snapshot("s0"), "s1")
    assert driver.list_snapshots(C2) == ["s1"]
    assert error_of(lambda: driver.rename_volume(C1, "c3")) is NotFound


def test_deferred_delete_and_halfway_restore(driver: StorageDriver) -> None:
    driver.create_volume(C1, fill)
    driver.create_snapshot(C1.snapshot("s0"))
    live = driver.volume_path(C1)
    (live / "rootfs/changed").write_text("x")
    work = driver.layout.work_dir  # type: ignore[attr-defined]
    aside = driver.restore_snapshot(C1, C1.snapshot("s0"), defer_delete=True)  # dir deletes at once
    assert all(path.parent == work for path in aside) and not (live / "rootfs/changed").exists()
    for path in aside + aside:  # a second delete of a missing path is no error
        driver.delete_path(path)
    assert os.listdir(work) == []
    driver.stage_restore(C1, C1.snapshot("s0"))
    os.rename(live, work / "old-containers-c1")  # a crash halfway through the swap
    assert driver.abort_restore(C1) is False  # only commit_restore may finish it
    driver.commit_restore(C1, C1.snapshot("s0"))
    assert digest(live) == digest(driver.volume_path(C1.snapshot("s0"))) and os.listdir(work) == []


def test_transfer_copies(driver: StorageDriver) -> None:
    driver.create_volume(C1, fill)
    work = driver.layout.work_dir  # type: ignore[attr-defined]
    driver.copy_to(C1, work / "tmp-copy")
    driver.snapshot_to(C1, work / "xfer-snap")
    for path in (work / "tmp-copy", work / "xfer-snap"):
        assert digest(path) == digest(driver.volume_path(C1)), path.name
    assert error_of(lambda: driver.copy_to(C2, work / "tmp-none")) is NotFound
    assert error_of(lambda: driver.snapshot_to(C2, work / "xfer-none")) is NotFound
    assert error_of(lambda: driver.stage_restore(C1, C1.snapshot("nope"))) is NotFound
    assert sorted(os.listdir(work)) == ["tmp-copy", "xfer-snap"]
