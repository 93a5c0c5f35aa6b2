"""The restore plan from find(1) listings: it must agree with the tree walk on every kind of change."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from pincus.storage.drivers import _listing
from pincus.storage.drivers import _restore as restore_mod
from pincus.storage.drivers._reuse import Reuse
from pincus.storage.drivers.base import CONTAINER, Volume
from pincus.storage.drivers.dir import MARKERS, SNAPSHOT_MARKER, DirDriver
from tests.unit.storage._storage_helpers import IS_ROOT, build_tree, needs_root, rsync_differences, settle

C1 = Volume("default", CONTAINER, "c1")
ODD = ["with space", "new\nline", "glob*[x]?", "-dash", "(paren", os.fsdecode(b"latin1-\xe9")]


def fill(path: Path) -> None:
    rootfs = path / "rootfs"
    rootfs.mkdir()
    build_tree(rootfs)
    for i, name in enumerate(ODD):
        (rootfs / name).mkdir()
        (rootfs / name / "f").write_text(str(i))
        (rootfs / name / name).write_bytes(os.fsencode(name))
    for d in range(6):
        (rootfs / f"usr/d{d}").mkdir(parents=True)
        for f in range(5 + d):
            (rootfs / f"usr/d{d}/f{f}").write_text(f"{d}/{f}")


@pytest.fixture
def driver(tmp_path: Path) -> DirDriver:
    d = DirDriver("default", tmp_path / "storage-pools" / "default", {})
    d.create_pool()
    d.create_volume(C1, fill)
    settle(d.volume_path(C1))
    d.create_snapshot(C1.snapshot("s0"))
    return d


def _paths(driver: DirDriver) -> tuple[Path, Path, int]:
    snap = driver.volume_path(C1.snapshot("s0"))
    trusted = json.loads((snap / SNAPSHOT_MARKER).read_text())["trusted_before_ns"]
    return snap, driver.volume_path(C1), trusted


def _both_plans(driver: DirDriver) -> tuple[list[str], list[str]]:
    snap, live, trusted = _paths(driver)
    walked = restore_mod.walk_plan(snap, live, Reuse(snap, trusted, live), MARKERS)
    listed = _listing.plan(snap, live, trusted, MARKERS)
    return listed, walked


def _rewrite_keeping_times(path: Path) -> None:
    st = os.lstat(path)
    path.write_bytes(b"X" * st.st_size)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _swap_symlink(path: Path) -> None:
    st = os.lstat(path)
    path.unlink()
    path.symlink_to("sh")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _retouch_dir(path: Path) -> None:
    """A new ctime, nothing else changed (the listing then checks the directory in Python)."""
    st = os.lstat(path)
    os.chmod(path, stat.S_IMODE(st.st_mode))


def _replace_device(path: Path) -> None:
    st = os.lstat(path)
    path.unlink()
    os.mknod(path, st.st_mode, os.makedev(1, 5))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


CHANGES: list[tuple[str, Callable[[Path], object]]] = [
    ("nothing", lambda r: None),
    ("file content, same size and mtime", lambda r: _rewrite_keeping_times(r / "usr/d3/f1")),
    ("new file", lambda r: (r / "usr/d2/new").write_text("n")),
    ("removed file", lambda r: (r / "usr/d4/f0").unlink()),
    ("dir mode", lambda r: os.chmod(r / "etc/sub", 0o700)),
    ("dir xattr", lambda r: os.setxattr(r / "etc/sub", "user.x", b"1")),
    ("dir ctime only", lambda r: _retouch_dir(r / "usr/d1")),
    ("dir mtime", lambda r: os.utime(r / "usr/d5", ns=(1, 2))),
    ("symlink target, same times", lambda r: _swap_symlink(r / "bin/ls")),
    ("file mode", lambda r: os.chmod(r / "bin/busybox", 0o755)),
    ("file became a dir", lambda r: ((r / "usr/d0/f0").unlink(), (r / "usr/d0/f0").mkdir())),
    ("dir became a file", lambda r: (os.rename(r / "usr/d1", r / "d1-moved"), (r / "usr/d1").write_text(""))),
    ("fifo replaced", lambda r: ((r / "etc/fifo").unlink(), os.mkfifo(r / "etc/fifo"))),
    ("odd names", lambda r: (r / "new\nline" / "f").write_text("changed")),
    ("glob name", lambda r: (r / "glob*[x]?" / "extra").write_text("x")),
]
if IS_ROOT:
    CHANGES.append(("device numbers", lambda r: _replace_device(r / "etc/null")))


@pytest.mark.parametrize(("label", "change"), CHANGES, ids=[c[0] for c in CHANGES])
def test_listing_plan_equals_the_walk(driver: DirDriver, label: str, change: Callable[[Path], object]) -> None:
    _, live, _ = _paths(driver)
    change(live / "rootfs")
    listed, walked = _both_plans(driver)
    assert listed == walked
    if label in ("nothing", "dir ctime only"):  # the latter checked in Python, found equal
        assert listed == ["rootfs"]
    else:
        assert "rootfs" not in listed


@pytest.mark.parametrize(("label", "change"), CHANGES, ids=[c[0] for c in CHANGES])
def test_restore_after_any_change_equals_the_snapshot(
    driver: DirDriver, label: str, change: Callable[[Path], object]
) -> None:
    snap, live, _ = _paths(driver)
    change(live / "rootfs")
    driver.restore_snapshot(C1, C1.snapshot("s0"))
    assert rsync_differences(snap / "rootfs", live / "rootfs") == []


def test_restore_without_a_recorded_listing_lists_the_snapshot(driver: DirDriver) -> None:
    snap, live, _ = _paths(driver)
    (snap / _listing.MANIFEST).write_bytes(b"garbage")
    assert _listing.read_manifest(snap) is None
    _rewrite_keeping_times(live / "rootfs/usr/d2/f2")
    listed, walked = _both_plans(driver)
    assert listed == walked and "rootfs/usr/d2" not in listed and "rootfs/usr/d3" in listed
    (snap / _listing.MANIFEST).unlink()
    driver.restore_snapshot(C1, C1.snapshot("s0"))
    assert rsync_differences(snap / "rootfs", live / "rootfs") == []


def test_a_failing_find_falls_back_to_the_walk(driver: DirDriver, monkeypatch: pytest.MonkeyPatch) -> None:
    snap, live, trusted = _paths(driver)
    monkeypatch.setattr(_listing, "_ENV", {"PATH": "/nonexistent"})
    with pytest.raises(_listing.ListingError, match="Failed listing"):
        _listing.plan(snap, live, trusted, MARKERS)
    (live / "rootfs/usr/d0/new").write_text("n")
    moves = restore_mod.plan_moves(snap, live, Reuse(snap, trusted, live), MARKERS)
    assert "rootfs/usr/d1" in moves and "rootfs/usr/d0" not in moves
    driver.restore_snapshot(C1, C1.snapshot("s0"))
    assert rsync_differences(snap / "rootfs", live / "rootfs") == []


def test_split_listing_equals_a_single_one(driver: DirDriver) -> None:
    snap, live, trusted = _paths(driver)
    recorded = _listing.read_manifest(snap)
    assert recorded is not None and recorded.split == b""  # a small tree
    recorded = _listing.Listing(recorded.entries, recorded.links, b"\0".join(recorded.half(least=0)))
    half = recorded.split.split(b"\0")
    assert half and all(not _listing._nested(a, b) for a in half for b in half if a != b)
    split = {**_listing._live_split(live, recorded)}
    for name in ODD:  # awkward names as split points too
        if not name.startswith(("-", "(")):
            split[f"rootfs/{name}"] = os.lstat(live / "rootfs" / name).st_ino
    (whole,) = _listing.list_trees((live, trusted, {}))
    (parts,) = _listing.list_trees((live, trusted, split))
    assert parts.entry_set() == whole.entry_set() and parts.link_set() == whole.link_set()
    assert len(parts.entries) == len(whole.entries)  # nothing listed twice


def test_half_takes_about_half_of_the_entries() -> None:
    entries = b"".join(b"f 644 0 0 1 1.0/top/d%d/f%d\0" % (d, f) for d in range(10) for f in range(10))
    half = _listing.Listing(entries, b"").half(least=0)
    assert 45 <= 10 * len(half) <= 55
    assert _listing.Listing(entries, b"").half() == []  # small trees are listed by one process


def test_trust_time_boundary_is_exact(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    ctime = os.lstat(tmp_path / "f").st_ctime_ns
    (at,) = _listing.list_trees((tmp_path, ctime, {}))
    (after,) = _listing.list_trees((tmp_path, ctime + 1, {}))
    assert next(iter(at.entry_set())).partition(b"/")[0].endswith(b" n")  # ctime == trust: changed
    assert not next(iter(after.entry_set())).partition(b"/")[0].endswith(b" n")


def test_manifest_round_trip_and_damage() -> None:
    listing = _listing.Listing(b"d 755 0 0 1.0/a\0", b"l 777 0 0 1 1.0/a/l\0tar\nget\0", b"a")
    assert _listing.Listing.unpack(listing.pack()) == listing
    assert listing.link_set() == {(b"l 777 0 0 1 1.0/a/l", b"tar\nget")}
    with pytest.raises(_listing.ListingError):
        _listing.Listing.unpack(listing.pack()[:-3])
    with pytest.raises(_listing.ListingError):
        _listing.Listing(b"", b"l 777 0 0 1 1.0/a/l\0").link_set()


@needs_root
def test_snapshot_records_its_listing_and_copies_skip_it(driver: DirDriver) -> None:
    snap, live, _ = _paths(driver)
    assert (snap / _listing.MANIFEST).is_file()
    assert not (live / _listing.MANIFEST).exists()
    driver.restore_snapshot(C1, C1.snapshot("s0"))
    assert not (live / _listing.MANIFEST).exists()


def test_split_points_through_a_symlink_are_dropped(driver: DirDriver, tmp_path: Path) -> None:
    snap, live, _ = _paths(driver)
    outside = tmp_path / "outside"
    (outside / "d0").mkdir(parents=True)
    usr = live / "rootfs/usr"
    os.rename(usr, live / "rootfs/usr-moved")
    usr.symlink_to(outside)  # what a container may do to its own tree
    recorded = _listing.Listing(b"", b"", b"rootfs/usr/d0\0rootfs/etc\0rootfs/usr-moved/d1")
    assert _listing._live_split(live, recorded) == {
        "rootfs/etc": os.lstat(live / "rootfs/etc").st_ino,
        "rootfs/usr-moved/d1": os.lstat(live / "rootfs/usr-moved/d1").st_ino,
    }
