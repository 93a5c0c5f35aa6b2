"""The dir driver in temp dirs: layout, snapshot sharing rules, two-pass freeze, errors."""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pincus.base.errors import Conflict, InsufficientSpace, InvalidArgument, NotFound, StorageError
from pincus.storage.drivers import _copy, _stats
from pincus.storage.drivers import dir as dir_mod
from pincus.storage.drivers.base import CONTAINER, IMAGE, Volume
from pincus.storage.drivers.dir import BASE_MARKER, SNAPSHOT_MARKER, DirDriver
from tests.unit.storage._storage_helpers import build_tree, inodes, needs_rsync, rsync_differences, settle

C1 = Volume("default", CONTAINER, "c1")


def fill(path: Path) -> None:
    """A filler writing a small rootfs and a backup.yaml, like the daemon."""
    (path / "rootfs").mkdir()
    build_tree(path / "rootfs")
    (path / "backup.yaml").write_text("name: c1\n")


@pytest.fixture
def driver(tmp_path: Path) -> DirDriver:
    d = DirDriver("default", tmp_path / "storage-pools" / "default", {})
    d.create_pool()
    return d


@pytest.fixture
def c1(driver: DirDriver) -> Path:
    driver.create_volume(C1, fill)
    settle(driver.volume_path(C1))
    return driver.volume_path(C1)


def test_create_pool_makes_the_incus_layout(driver: DirDriver, tmp_path: Path) -> None:
    root = tmp_path / "storage-pools/default"
    assert {"containers", "containers-snapshots", "images", "custom"} <= set(os.listdir(root))
    assert driver.config["source"] == str(root)
    used, total = driver.usage()
    assert 0 < used < total


def test_pool_on_an_existing_source_directory(tmp_path: Path) -> None:
    src = tmp_path / "elsewhere"
    src.mkdir()
    d = DirDriver("p2", tmp_path / "storage-pools/p2", {"source": str(src)})
    d.create_pool()
    d.create_volume(C1, fill)
    assert (src / "containers/c1/backup.yaml").exists()
    assert (tmp_path / "storage-pools/p2/containers/c1/backup.yaml").exists()
    d.delete_volume(C1)
    d.delete_pool()
    assert src.is_dir() and os.listdir(src) == []
    assert not os.path.lexists(tmp_path / "storage-pools/p2")


def test_missing_source_directory_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        DirDriver("p", tmp_path / "p", {"source": str(tmp_path / "nope")}).create_pool()


def test_a_pool_that_fails_half_way_leaves_nothing_behind(tmp_path: Path) -> None:
    src = tmp_path / "elsewhere"
    (src / "containers").mkdir(parents=True)  # the user's own, empty: kept
    (src / "images").write_text("not a directory")  # the layout step fails here
    pool_path = tmp_path / "storage-pools/p3"
    with pytest.raises(InvalidArgument, match='Failed creating storage pool "p3": File exists'):
        DirDriver("p3", pool_path, {"source": str(src)}).create_pool()
    assert not os.path.lexists(pool_path)
    assert sorted(os.listdir(src)) == ["containers", "images"]


def test_a_source_that_is_a_file_is_refused_with_nothing_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotFound):
        DirDriver("p4", tmp_path / "storage-pools/p4", {"source": str(tmp_path / "file")}).create_pool()
    assert not os.path.lexists(tmp_path / "storage-pools/p4")


def test_delete_pool_refuses_while_volumes_exist(driver: DirDriver, c1: Path) -> None:
    with pytest.raises(Conflict):
        driver.delete_pool()
    driver.delete_volume(C1)
    driver.delete_pool()
    assert not driver.pool_path.exists()


def test_volume_paths_follow_incus(driver: DirDriver) -> None:
    assert driver.volume_path(C1) == driver.pool_path / "containers/c1"
    assert driver.volume_path(C1.snapshot("s0")) == driver.pool_path / "containers-snapshots/c1/s0"
    assert driver.volume_path(Volume("default", IMAGE, "abc")) == driver.pool_path / "images/abc"


def test_failed_filler_leaves_nothing(driver: DirDriver) -> None:
    def broken(path: Path) -> None:
        (path / "half").write_text("x")
        raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(StorageError, match='Failed creating volume "c1" in pool "default"'):
        driver.create_volume(C1, broken)
    assert os.listdir(driver.pool_path / "containers") == []


def test_existing_volume_is_a_conflict(driver: DirDriver, c1: Path) -> None:
    with pytest.raises(Conflict):
        driver.create_volume(C1, fill)


@needs_rsync
def test_snapshot_equals_volume_and_lists(driver: DirDriver, c1: Path) -> None:
    driver.create_snapshot(C1.snapshot("s0"))
    snap = driver.volume_path(C1.snapshot("s0"))
    assert rsync_differences(c1, snap, "--exclude=/.pincus-*") == []
    assert driver.list_snapshots(C1) == ["s0"]
    assert driver.volume_exists(C1.snapshot("s0"))
    assert driver.volume_size(C1.snapshot("s0")) > 0
    assert driver.volume_size(C1) == -1


def test_second_snapshot_shares_unchanged_files_with_the_first(driver: DirDriver, c1: Path) -> None:
    driver.create_snapshot(C1.snapshot("s0"))
    (c1 / "rootfs/etc/new").write_text("new")
    driver.create_snapshot(C1.snapshot("s1"))
    s0, s1 = driver.volume_path(C1.snapshot("s0")), driver.volume_path(C1.snapshot("s1"))
    assert os.path.samefile(s0 / "rootfs/bin/busybox", s1 / "rootfs/bin/busybox")
    assert (s1 / "rootfs/etc/new").read_text() == "new"
    assert not (s0 / "rootfs/etc/new").exists()
    assert driver.volume_size(C1.snapshot("s1")) < driver.volume_size(C1.snapshot("s0"))


def test_live_volume_never_shares_an_inode_with_a_snapshot(driver: DirDriver, c1: Path) -> None:
    driver.create_snapshot(C1.snapshot("s0"))
    driver.create_snapshot(C1.snapshot("s1"))
    driver.restore_snapshot(C1, C1.snapshot("s0"))
    settle(c1)
    driver.create_snapshot(C1.snapshot("s2"))
    live = inodes(c1)
    for snap in ("s0", "s1", "s2"):
        assert not live & inodes(driver.volume_path(C1.snapshot(snap))), snap


def test_writing_into_a_restored_file_leaves_the_snapshot_alone(driver: DirDriver, c1: Path) -> None:
    driver.create_snapshot(C1.snapshot("s0"))
    (c1 / "rootfs/etc/hosts").write_text("changed\n")
    driver.restore_snapshot(C1, C1.snapshot("s0"))
    for rel in ("rootfs/etc/hosts", "rootfs/bin/busybox"):
        with open(c1 / rel, "r+b") as fh:
            fh.write(b"WRITTEN THROUGH")
    snap = driver.volume_path(C1.snapshot("s0"))
    assert (snap / "rootfs/etc/hosts").read_text() == "127.0.0.1 localhost\n"
    assert not (snap / "rootfs/bin/busybox").read_bytes().startswith(b"WRITTEN")


def test_in_place_change_keeping_size_and_mtime_reaches_the_next_snapshot(
    driver: DirDriver, c1: Path
) -> None:
    driver.create_snapshot(C1.snapshot("s0"))
    target = c1 / "rootfs/etc/hosts"
    st = os.stat(target)
    with open(target, "r+b") as fh:
        fh.write(b"8")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    driver.create_snapshot(C1.snapshot("s1"))
    assert (driver.volume_path(C1.snapshot("s1")) / "rootfs/etc/hosts").read_text().startswith("827")
    assert (driver.volume_path(C1.snapshot("s0")) / "rootfs/etc/hosts").read_text().startswith("127")


@needs_rsync
def test_restore_brings_back_the_snapshot_and_keeps_other_snapshots(driver: DirDriver, c1: Path) -> None:
    driver.create_snapshot(C1.snapshot("s0"))
    (c1 / "rootfs/this_file.txt").write_text("x")
    (c1 / "rootfs/etc/hosts").unlink()
    driver.create_snapshot(C1.snapshot("s1"))
    driver.restore_snapshot(C1, C1.snapshot("s0"))
    snap = driver.volume_path(C1.snapshot("s0"))
    assert rsync_differences(snap, c1, "--exclude=/.pincus-*") == []
    assert not (c1 / "rootfs/this_file.txt").exists()
    assert driver.list_snapshots(C1) == ["s0", "s1"]
    assert (c1 / BASE_MARKER).exists() and not (c1 / SNAPSHOT_MARKER).exists()
    assert sorted(os.listdir(driver.pool_path / "containers")) == ["c1"]


def test_snapshot_after_restore_links_from_the_restored_snapshot(driver: DirDriver, c1: Path) -> None:
    driver.create_snapshot(C1.snapshot("s0"))
    driver.restore_snapshot(C1, C1.snapshot("s0"))
    settle(c1)
    driver.rename_snapshot(C1.snapshot("s0"), "renamed")
    driver.create_snapshot(C1.snapshot("s1"))
    a, b = driver.volume_path(C1.snapshot("renamed")), driver.volume_path(C1.snapshot("s1"))
    assert os.path.samefile(a / "rootfs/bin/busybox", b / "rootfs/bin/busybox")


def test_copy_of_a_snapshot_into_a_new_volume(driver: DirDriver, c1: Path) -> None:
    driver.create_snapshot(C1.snapshot("s0"))
    c2 = Volume("default", CONTAINER, "c2")
    driver.create_volume_from_copy(c2, C1.snapshot("s0"))
    path = driver.volume_path(c2)
    assert (path / "rootfs/etc/hosts").read_text() == "127.0.0.1 localhost\n"
    assert not inodes(path) & inodes(driver.volume_path(C1.snapshot("s0")))
    assert (path / BASE_MARKER).exists()


def test_copy_of_a_snapshot_into_a_snapshot_links_everything(driver: DirDriver, c1: Path) -> None:
    driver.create_snapshot(C1.snapshot("s0"))
    target = Volume("default", CONTAINER, "c2/s0")
    driver.create_volume_from_copy(target, C1.snapshot("s0"))
    a, b = driver.volume_path(C1.snapshot("s0")), driver.volume_path(target)
    assert os.path.samefile(a / "rootfs/etc/hosts", b / "rootfs/etc/hosts")


def test_copy_of_an_image_then_snapshot_shares_with_the_image(driver: DirDriver) -> None:
    image = Volume("default", IMAGE, "f00d")
    driver.create_volume(image, fill)
    driver.create_volume_from_copy(C1, image)
    settle(driver.volume_path(C1))
    driver.create_snapshot(C1.snapshot("s0"))
    img, snap = driver.volume_path(image), driver.volume_path(C1.snapshot("s0"))
    assert os.path.samefile(img / "rootfs/etc/hosts", snap / "rootfs/etc/hosts")
    assert not inodes(driver.volume_path(C1)) & inodes(img)


def test_rename_volume_moves_snapshots(driver: DirDriver, c1: Path) -> None:
    driver.create_snapshot(C1.snapshot("s0"))
    driver.rename_volume(C1, "c9")
    c9 = Volume("default", CONTAINER, "c9")
    assert driver.volume_exists(c9) and driver.list_snapshots(c9) == ["s0"]
    assert not driver.volume_exists(C1) and driver.list_snapshots(C1) == []


def test_delete_volume_deletes_snapshots_and_missing_is_fine(driver: DirDriver, c1: Path) -> None:
    driver.create_snapshot(C1.snapshot("s0"))
    driver.delete_volume(C1)
    assert os.listdir(driver.pool_path / "containers") == []
    assert os.listdir(driver.pool_path / "containers-snapshots") == []
    driver.delete_volume(C1)
    driver.delete_snapshot(C1.snapshot("s0"))


def test_missing_sources_are_not_found(driver: DirDriver) -> None:
    with pytest.raises(NotFound, match='Volume "c1" not found in pool "default"'):
        driver.create_snapshot(C1.snapshot("s0"))
    with pytest.raises(NotFound):
        driver.create_volume_from_copy(Volume("default", CONTAINER, "c2"), C1)
    with pytest.raises(NotFound):
        driver.restore_snapshot(C1, C1.snapshot("s0"))


def test_no_space_is_insufficient_space_and_leaves_nothing(
    driver: DirDriver, c1: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*a: object, **k: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_copy.os, "copy_file_range", full)
    monkeypatch.setattr(
        _copy.fcntl, "ioctl", lambda *a: (_ for _ in ()).throw(OSError(errno.EOPNOTSUPP, "x"))
    )
    msg = 'Failed creating snapshot "s0" of volume "c1" in pool "default": No space left on device'
    with pytest.raises(InsufficientSpace, match=msg):
        driver.create_snapshot(C1.snapshot("s0"))
    assert os.listdir(driver.pool_path / "containers-snapshots/c1") == []
    with pytest.raises(InsufficientSpace):
        driver.create_volume_from_copy(Volume("default", CONTAINER, "c2"), C1)
    assert sorted(os.listdir(driver.pool_path / "containers")) == ["c1"]


# --- running containers: two passes, one short freeze -----------------------------------------


class RecordingFreezer:
    """A fake freezer recording when it was entered and left."""

    def __init__(self) -> None:
        self.frozen = False
        self.periods: list[tuple[float, float]] = []

    @contextmanager
    def __call__(self) -> Iterator[None]:
        start = time.monotonic()
        self.frozen = True
        try:
            yield
        finally:
            self.frozen = False
            self.periods.append((start, time.monotonic()))


def test_running_snapshot_freezes_once_and_only_for_the_delta(
    driver: DirDriver, c1: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    freezer = RecordingFreezer()
    passes: list[tuple[str, bool, float, float]] = []
    real_copy, real_sync = dir_mod.copy_tree, dir_mod.sync_tree

    def copy_pass(*a: object, **k: object) -> _stats.CopyStats:
        start = time.monotonic()
        stats = real_copy(*a, **k)  # type: ignore[arg-type]
        passes.append(("copy", freezer.frozen, start, time.monotonic()))
        # the container keeps running while pass 1 copies
        (c1 / "rootfs/etc/hosts").write_text("written during pass 1\n")
        (c1 / "rootfs/etc/added").write_text("added")
        (c1 / "rootfs/etc/empty").unlink()
        return stats

    def delta_pass(*a: object, **k: object) -> _stats.CopyStats:
        start = time.monotonic()
        stats = real_sync(*a, **k)  # type: ignore[arg-type]
        passes.append(("sync", freezer.frozen, start, time.monotonic()))
        return stats

    monkeypatch.setattr(dir_mod, "copy_tree", copy_pass)
    monkeypatch.setattr(dir_mod, "sync_tree", delta_pass)
    driver.create_snapshot(C1.snapshot("s0"), freeze=freezer)
    assert [(name, frozen) for name, frozen, _, _ in passes] == [("copy", False), ("sync", True)]
    assert len(freezer.periods) == 1
    (enter, leave), sync = freezer.periods[0], passes[1]
    assert enter > passes[0][3] and enter <= sync[2] and sync[3] <= leave
    snap = driver.volume_path(C1.snapshot("s0")) / "rootfs/etc"
    assert (snap / "hosts").read_text() == "written during pass 1\n"
    assert (snap / "added").exists() and not (snap / "empty").exists()


def test_stopped_snapshot_never_freezes(driver: DirDriver, c1: Path) -> None:
    freezer = RecordingFreezer()
    driver.create_snapshot(C1.snapshot("s0"))
    assert freezer.periods == []


# --- restore: unchanged live subtrees move over whole ------------------------------------------


def _restore_moves(driver: DirDriver, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = dir_mod.plan_moves

    def spy(*a: object, **k: object) -> list[str]:
        seen.extend(real(*a, **k))  # type: ignore[arg-type]
        return seen

    monkeypatch.setattr(dir_mod, "plan_moves", spy)
    driver.restore_snapshot(C1, C1.snapshot("s0"))
    return seen


def test_restore_moves_unchanged_subtrees_and_copies_changed_ones(
    driver: DirDriver, c1: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (c1 / "rootfs/usr/lib/deep").mkdir(parents=True)
    (c1 / "rootfs/usr/lib/deep/a").write_text("a")
    (c1 / "rootfs/usr/share").mkdir()
    (c1 / "rootfs/usr/share/b").write_text("b")
    settle(c1)
    driver.create_snapshot(C1.snapshot("s0"))
    (c1 / "rootfs/usr/share/b").write_text("changed")
    (c1 / "rootfs/etc/sub/extra").write_text("extra")
    inode = os.stat(c1 / "rootfs/usr/lib/deep/a").st_ino
    moves = _restore_moves(driver, monkeypatch)
    assert {"rootfs/usr/lib", "rootfs/bin"} <= set(moves)
    assert not any(
        m.startswith(("rootfs/usr/share", "rootfs/etc")) or m in ("rootfs", "rootfs/usr") for m in moves
    )
    assert os.stat(c1 / "rootfs/usr/lib/deep/a").st_ino == inode  # moved, not copied
    assert (c1 / "rootfs/usr/share/b").read_text() == "b"
    assert not (c1 / "rootfs/etc/sub/extra").exists()
    assert not inodes(c1) & inodes(driver.volume_path(C1.snapshot("s0")))


def _replace_symlink(path: Path, target: str) -> None:
    path.unlink()
    path.symlink_to(target)


CHANGES: list[tuple[Callable[[Path], object], str]] = [
    (lambda r: os.chmod(r / "etc/sub", 0o700), "etc/sub"),
    (lambda r: os.setxattr(r / "etc/sub", "user.x", b"1"), "etc/sub"),
    (lambda r: (r / "etc/sub/new").write_text("n"), "etc/sub"),
    (lambda r: os.utime(r / "etc/sub", ns=(1, 2)), "etc/sub"),
    (lambda r: _replace_symlink(r / "bin/ls", "sh"), "bin"),
    (lambda r: os.chmod(r / "bin/busybox", 0o755), "bin"),
]


@pytest.mark.parametrize(("change", "dirty"), CHANGES)
def test_any_difference_keeps_a_subtree_from_moving(
    driver: DirDriver, c1: Path, monkeypatch: pytest.MonkeyPatch, change: Callable[[Path], object], dirty: str
) -> None:
    driver.create_snapshot(C1.snapshot("s0"))
    snap = driver.volume_path(C1.snapshot("s0"))
    change(c1 / "rootfs")
    moves = _restore_moves(driver, monkeypatch)
    assert not any(f"rootfs/{dirty}".startswith(m) for m in moves)
    for rel in ("etc/sub", "bin"):
        a, b = os.lstat(snap / "rootfs" / rel), os.lstat(c1 / "rootfs" / rel)
        assert (a.st_mode, a.st_mtime_ns) == (b.st_mode, b.st_mtime_ns)
    assert os.listxattr(c1 / "rootfs/etc/sub") == []
    assert os.readlink(c1 / "rootfs/bin/ls") == "busybox"
    assert os.stat(c1 / "rootfs/bin/busybox").st_mode & 0o7777 == 0o4755
    assert not (c1 / "rootfs/etc/sub/new").exists()


def test_restore_through_a_claim_on_another_snapshot_uses_shared_inodes(
    driver: DirDriver, c1: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver.create_snapshot(C1.snapshot("s0"))
    driver.create_snapshot(C1.snapshot("s1"))  # shares every file with s0
    marker = driver.volume_path(C1.snapshot("s0")) / SNAPSHOT_MARKER
    data = json.loads(marker.read_text())
    marker.write_text(json.dumps({**data, "trusted_before_ns": 0}))  # s0 vouches for nothing itself
    (c1 / "rootfs/etc/hosts").write_text("changed\n")
    moves = _restore_moves(driver, monkeypatch)
    assert "rootfs/bin" in moves  # proven through s1, whose inodes are s0's
    assert "rootfs/etc" not in moves and "rootfs" not in moves
    assert (c1 / "rootfs/etc/hosts").read_text() == "127.0.0.1 localhost\n"
