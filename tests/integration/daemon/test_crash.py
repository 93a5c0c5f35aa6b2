"""kill -9 of the daemon in the middle of a snapshot, a delete and a restore: consistent after restart."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.integration


def _snapshot_dirs(d, name: str) -> list[str]:
    path = d.root / "storage-pools" / "default" / "containers-snapshots" / name
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def _names(d, name: str) -> list[str]:
    return d.run("snapshot", "list", name, "-c", "n", "-f", "csv").stdout.split()


def _two_versions(d, name: str, verb: str) -> None:
    """``verb`` (init or launch) an instance; snapshot s1 holds version 1 and user.step=one, the
    instance then holds version 2 and user.step=two."""
    d.run(verb, "busybox", name, "-c", "user.step=one")
    d.run("file", "push", "-", f"{name}/root/version", input="1\n")
    d.run("snapshot", "create", name, "s1")
    d.run("file", "push", "-", f"{name}/root/version", input="2\n")
    d.run("config", "set", name, "user.step=two")


@pytest.mark.parametrize("point", ["snapshot-row-created", "snapshot-volume-created"])
def test_crash_during_snapshot_leaves_no_half_snapshot(daemon, name, point):
    d = daemon
    d.run("launch", "busybox", name)
    d.run("snapshot", "create", name, "keep")
    d.restart(failpoints=point)
    res = d.run("snapshot", "create", name, "doomed", check=False)
    assert res.returncode != 0
    assert d.crashed()
    d.restart()
    assert _names(d, name) == ["keep"]
    assert _snapshot_dirs(d, name) == ["keep"]
    assert d.run("list", name, "-c", "s", "-f", "csv").stdout.strip() == "RUNNING"  # survived the crash
    d.run("snapshot", "create", name, "doomed")  # the name is free again
    d.run("delete", "--force", name)


def test_crash_during_snapshot_delete_finishes_it(daemon, name):
    d = daemon
    d.run("init", "busybox", name)
    d.run("snapshot", "create", name, "s1")
    d.run("snapshot", "create", name, "s2")
    d.restart(failpoints="snapshot-delete-marked")
    d.run("snapshot", "delete", name, "s1", check=False)
    assert d.crashed()
    d.restart()
    assert _names(d, name) == ["s2"] and _snapshot_dirs(d, name) == ["s2"]
    d.run("delete", name)


@pytest.mark.parametrize("point", ["restore-intent-recorded", "restore-swapped"])
def test_crash_during_restore_completes_the_restore(daemon, name, point):
    d = daemon
    _two_versions(d, name, "init")
    d.restart(failpoints=point)
    d.run("snapshot", "restore", name, "s1", check=False)
    assert d.crashed()
    d.restart()
    assert d.run("file", "pull", f"{name}/root/version", "-").stdout == "1\n"
    assert d.run("config", "get", name, "user.step").stdout.strip() == "one"
    assert _names(d, name) == ["s1"]
    leftovers = [p.name for p in (d.root / "storage-pools" / "default" / "containers").iterdir()
                 if p.name.startswith(".")]
    assert leftovers == []
    d.run("delete", name)


@pytest.mark.parametrize("point", ["restore-stopped", "restore-staged"])
def test_crash_before_the_swap_rolls_the_restore_back_and_restarts(daemon, name, point):
    d = daemon
    _two_versions(d, name, "launch")
    d.restart(failpoints=point)
    d.run("snapshot", "restore", name, "s1", check=False)
    assert d.crashed()
    d.restart()
    assert d.run("list", name, "-c", "s", "-f", "csv").stdout.strip() == "RUNNING"  # its power state back
    assert d.run("file", "pull", f"{name}/root/version", "-").stdout == "2\n"
    assert d.run("config", "get", name, "user.step").stdout.strip() == "two"
    assert os.listdir(d.root / "storage-pools" / "default" / ".pincus-work") == []
    d.run("snapshot", "restore", name, "s1")  # and a restore works afterwards
    assert d.run("file", "pull", f"{name}/root/version", "-").stdout == "1\n"
    d.run("delete", "--force", name)


def test_crash_after_the_commit_still_restarts_the_restored_instance(daemon, name):
    d = daemon
    _two_versions(d, name, "launch")
    d.restart(failpoints="restore-committed")
    d.run("snapshot", "restore", name, "s1", check=False)
    assert d.crashed()
    d.restart()
    assert d.run("file", "pull", f"{name}/root/version", "-").stdout == "1\n"
    assert d.run("list", name, "-c", "s", "-f", "csv").stdout.strip() == "RUNNING"
    d.run("delete", "--force", name)


def test_crash_halfway_through_the_swap_completes_the_restore(daemon, name):
    d = daemon
    d.run("init", "busybox", name)
    d.run("file", "push", "-", f"{name}/root/version", input="1\n")
    d.run("snapshot", "create", name, "s1")
    d.run("file", "push", "-", f"{name}/root/version", input="2\n")
    d.restart(failpoints="restore-halfway")
    d.run("snapshot", "restore", name, "s1", check=False)
    assert d.crashed()
    assert not (d.root / "storage-pools" / "default" / "containers" / name).exists()  # truly halfway
    d.restart()
    assert d.run("file", "pull", f"{name}/root/version", "-").stdout == "1\n"
    assert "ERROR" not in d.run("list", name, "-c", "s", "-f", "csv").stdout
    d.run("delete", name)


@pytest.mark.parametrize("point", ["rename-journaled", "volume-rename-halfway", "rename-volume-renamed"])
def test_crash_during_instance_rename_finishes_it(daemon, name, point):
    d = daemon
    d.run("init", "busybox", name)
    d.run("file", "push", "-", f"{name}/root/marker", input="mine\n")
    d.run("snapshot", "create", name, "s1")
    new = f"{name}-r"
    d.restart(failpoints=point)
    d.run("rename", name, new, check=False)
    assert d.crashed()
    d.restart()
    assert d.run("list", "-c", "n", "-f", "csv").stdout.split().count(new) == 1
    assert name not in d.run("list", "-c", "n", "-f", "csv").stdout.split()
    assert _names(d, new) == ["s1"] and _snapshot_dirs(d, new) == ["s1"] and _snapshot_dirs(d, name) == []
    assert d.run("file", "pull", f"{new}/root/marker", "-").stdout == "mine\n"
    d.run("start", new)
    d.run("delete", "--force", new)


@pytest.mark.parametrize("point", ["snapshot-rename-journaled", "snapshot-rename-volume-renamed"])
def test_crash_during_snapshot_rename_finishes_it(daemon, name, point):
    d = daemon
    d.run("init", "busybox", name)
    d.run("snapshot", "create", name, "sa")
    d.restart(failpoints=point)
    d.run("snapshot", "rename", name, "sa", "renamed", check=False)
    assert d.crashed()
    d.restart()
    assert _names(d, name) == ["renamed"] and _snapshot_dirs(d, name) == ["renamed"]
    d.run("snapshot", "restore", name, "renamed")
    d.run("delete", name)
