"""kill -9 of the daemon in the middle of a snapshot, a delete and a restore: consistent after restart."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def _snapshot_dirs(d, name: str) -> list[str]:
    path = d.root / "storage-pools" / "default" / "containers-snapshots" / name
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def _names(d, name: str) -> list[str]:
    return d.run("snapshot", "list", name, "-c", "n", "-f", "csv").stdout.split()


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
    d.run("init", "busybox", name, "-c", "user.step=one")
    d.run("file", "push", "-", f"{name}/root/version", input="1\n")
    d.run("snapshot", "create", name, "s1")
    d.run("file", "push", "-", f"{name}/root/version", input="2\n")
    d.run("config", "set", name, "user.step=two")
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
