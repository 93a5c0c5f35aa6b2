"""Crash safety of the dir driver: kill an operation at every step, then recover() at "restart".

A crash is simulated by a BaseException raised at a chosen syscall while the reverter's undo is
disabled (a dead process runs no undo). After recover(), every volume must be either in its old
state or in its new, complete state, and no work directory may be left.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pincus.base.revert import Reverter
from pincus.storage.drivers import _copy, _parallel
from pincus.storage.drivers.base import CONTAINER, Volume
from pincus.storage.drivers.dir import DirDriver
from tests.unit.storage._storage_helpers import settle

C1 = Volume("default", CONTAINER, "c1")


class Crash(BaseException):
    """The process died here."""


def fill(path: Path) -> None:
    (path / "rootfs/etc").mkdir(parents=True)
    for i in range(40):
        (path / f"rootfs/etc/f{i}").write_text(f"old {i}")
    for sub in ("usr/share/doc", "usr/lib", "var/lib"):
        (path / "rootfs" / sub).mkdir(parents=True)
        for i in range(5):
            (path / "rootfs" / sub / f"g{i}").write_text(f"{sub} {i}")
    (path / "backup.yaml").write_text("name: c1\n")


def content(root: Path) -> dict[str, str]:
    """Relative path -> text of every file below root, markers excluded."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath, name)
            rel = str(p.relative_to(root))
            if not rel.startswith(".pincus-"):
                out[rel] = p.read_text()
    return out


def hidden(driver: DirDriver) -> list[str]:
    """Everything left in the pool's work area, and any hidden name beside the volumes."""
    work = driver.pool_path / ".pincus-work"
    found = [f"work/{n}" for n in os.listdir(work)] if work.is_dir() else []
    for dirpath, dirs, files in os.walk(driver.pool_path):
        rel = Path(dirpath).relative_to(driver.pool_path)
        if len(rel.parts) <= 2 and rel.parts[:1] != (".pincus-work",):
            found += [
                str(rel / n) for n in dirs + files if n.startswith(".") and not n.startswith(".pincus-")
            ]
    return found


@pytest.fixture
def driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DirDriver:
    d = DirDriver("default", tmp_path / "pool", {})
    d.create_pool()
    d.create_volume(C1, fill)
    settle(tmp_path)
    monkeypatch.setattr(Reverter, "fail", lambda self: None)  # a crashed process undoes nothing
    return d


def crash_on(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, nth: int = 0, after: bool = False, when: str = ""
) -> None:
    """Make module.name crash, before or after it took effect: on its nth call, or on the first call
    whose arguments mention ``when``."""
    real: Callable[..., Any] = getattr(module, name)
    calls = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        hit = calls[0] == nth if nth else when in " ".join(map(str, args)) + " "
        if hit and not after:
            raise Crash(name)
        result = real(*args, **kwargs)
        if hit:
            raise Crash(name)
        return result

    monkeypatch.setattr(module, name, wrapper)


def restart(driver: DirDriver, monkeypatch: pytest.MonkeyPatch) -> DirDriver:
    monkeypatch.undo()
    fresh = DirDriver(driver.pool_name, driver.pool_path, dict(driver.config))
    fresh.recover()
    assert hidden(fresh) == []
    assert fresh.recover() == []  # idempotent
    return fresh


# (call, nth, after, when): every step of a restore.
RESTORE_CRASHES = [
    ("copy_file_range", 7, False, ""),  # building the restored tree
    ("rename", 0, True, "restore-containers-c1.moves "),  # journal written, nothing moved yet
    ("rename", 0, True, "/c1/rootfs/usr "),  # one live subtree moved into the restored tree
    ("rename", 0, False, "old-containers-c1"),  # all built, live untouched
    ("rename", 0, True, "old-containers-c1"),  # live renamed away, restored tree not in place
    ("rename", 0, True, "restore-containers-c1 "),  # swapped, journal and old tree still there
    ("unlink", 10, False, ""),  # deleting the old tree
    ("rename", 0, False, ".pincus-base.json"),  # writing the base marker
]


@pytest.mark.parametrize(("call", "nth", "after", "when"), RESTORE_CRASHES)
def test_restore_crash_leaves_old_or_new_state(
    driver: DirDriver, monkeypatch: pytest.MonkeyPatch, call: str, nth: int, after: bool, when: str
) -> None:
    driver.create_snapshot(C1.snapshot("s0"))
    live = driver.volume_path(C1)
    for i in range(0, 40, 2):
        (live / f"rootfs/etc/f{i}").write_text(f"new {i}")
    (live / "rootfs/this_file.txt").write_text("x")
    old_state = content(live)
    snap_state = content(driver.volume_path(C1.snapshot("s0")))
    module = _parallel.os if call == "unlink" else _copy.os if call == "copy_file_range" else os
    crash_on(monkeypatch, module, call, nth, after, when)
    with pytest.raises(Crash):
        driver.restore_snapshot(C1, C1.snapshot("s0"))
    fresh = restart(driver, monkeypatch)
    assert content(fresh.volume_path(C1)) in (old_state, snap_state)
    assert content(fresh.volume_path(C1.snapshot("s0"))) == snap_state
    fresh.restore_snapshot(C1, C1.snapshot("s0"))  # and it works afterwards
    assert content(fresh.volume_path(C1)) == snap_state


# os.rename calls in a snapshot: 1 the snapshot marker, 2 work/tmp-<id> -> snap.
@pytest.mark.parametrize(
    ("call", "nth", "after"), [("copy_file_range", 5, False), ("rename", 1, False), ("rename", 2, False)]
)
def test_snapshot_crash_leaves_nothing_or_the_whole_snapshot(
    driver: DirDriver, monkeypatch: pytest.MonkeyPatch, call: str, nth: int, after: bool
) -> None:
    module = _copy.os if call == "copy_file_range" else os
    crash_on(monkeypatch, module, call, nth, after)
    with pytest.raises(Crash):
        driver.create_snapshot(C1.snapshot("s0"))
    fresh = restart(driver, monkeypatch)
    assert fresh.list_snapshots(C1) == []
    fresh.create_snapshot(C1.snapshot("s0"))
    assert content(fresh.volume_path(C1.snapshot("s0"))) == content(fresh.volume_path(C1))


@pytest.mark.parametrize(("call", "nth"), [("copy_file_range", 3), ("rename", 1), ("rename", 2)])
def test_copy_crash_leaves_no_volume(
    driver: DirDriver, monkeypatch: pytest.MonkeyPatch, call: str, nth: int
) -> None:
    driver.create_snapshot(C1.snapshot("s0"))
    c2 = Volume("default", CONTAINER, "c2")
    crash_on(monkeypatch, _copy.os if call == "copy_file_range" else os, call, nth)
    with pytest.raises(Crash):
        driver.create_volume_from_copy(c2, C1.snapshot("s0"))
    fresh = restart(driver, monkeypatch)
    assert not fresh.volume_exists(c2)


def test_delete_crash_finishes_the_delete(driver: DirDriver, monkeypatch: pytest.MonkeyPatch) -> None:
    driver.create_snapshot(C1.snapshot("s0"))
    crash_on(monkeypatch, _parallel.os, "unlink", 5)
    with pytest.raises(Crash):
        driver.delete_volume(C1)
    fresh = restart(driver, monkeypatch)
    assert not fresh.volume_exists(C1)  # the volume vanished at the first rename


# --- leftovers laid out by hand -------------------------------------------------------------


def work(driver: DirDriver, name: str) -> Path:
    path = driver.pool_path / ".pincus-work" / name
    path.parent.mkdir(exist_ok=True)
    return path


def test_old_without_live_is_put_back(driver: DirDriver) -> None:
    live = driver.volume_path(C1)
    before = content(live)
    os.rename(live, work(driver, "old-containers-c1"))
    (work(driver, "restore-containers-c1") / "rootfs").mkdir(parents=True)
    done = driver.recover()
    assert content(live) == before
    assert len(done) == 2 and hidden(driver) == []


def test_old_with_live_is_deleted(driver: DirDriver) -> None:
    live = driver.volume_path(C1)
    (work(driver, "old-containers-c1") / "rootfs").mkdir(parents=True)
    driver.recover()
    assert os.listdir(live.parent) == ["c1"] and hidden(driver) == []


def test_work_leftovers_are_deleted(driver: DirDriver) -> None:
    for name in ("tmp-1a2b", "delete-3c4d", "tmp-5e6f"):
        (work(driver, name) / "rootfs").mkdir(parents=True)
    assert len(driver.recover()) == 3
    assert hidden(driver) == []


def test_user_names_that_look_like_work_names_are_never_touched(driver: DirDriver) -> None:
    names = [".tmp-s0", ".delete-s1", ".old-s2", ".restore-s3", ".moves-s4", ".tmp-recv-s5", ".tmp-xfer-s6"]
    for name in names:
        driver.create_snapshot(C1.snapshot(name))
    driver.create_snapshot(C1.snapshot("s7"))
    driver.restore_snapshot(C1, C1.snapshot("s7"))
    driver.recover()
    assert driver.list_snapshots(C1) == sorted([*names, "s7"])
    for name in names:
        assert content(driver.volume_path(C1.snapshot(name))) == content(driver.volume_path(C1.snapshot("s7")))


def test_unfinished_journal_and_marker_temps_are_dropped(driver: DirDriver) -> None:
    top = driver.pool_path / "containers"
    work(driver, "restore-containers-c1.moves.tmp-123").write_text('{"mov')
    (top / "c1/.pincus-base.json.tmp-123").write_text("{")
    driver.recover()
    assert sorted(os.listdir(top)) == ["c1"] and hidden(driver) == []
    assert not any(n.startswith(".pincus-base.json.tmp") for n in os.listdir(top / "c1"))


def test_journal_after_the_swap_only_goes_away(driver: DirDriver) -> None:
    live = driver.volume_path(C1)
    before = content(live)
    work(driver, "restore-containers-c1.moves").write_text('{"moves": ["rootfs/usr"]}')
    (work(driver, "old-containers-c1") / "rootfs").mkdir(parents=True)
    driver.recover()
    assert content(live) == before and hidden(driver) == []
