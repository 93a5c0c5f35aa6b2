"""Regression: snapshot names starting with a dot must not collide with the drivers' work names.

Snapshot names may start with a dot (Incus allows it); the drivers used ``.tmp-<snap>``,
``.delete-<snap>``, ``.old-``, ``.restore-``, ``.moves-``, ``.tmp-recv-``, ``.tmp-xfer-`` beside the
final name, and recovery deleted every hidden name at start: such snapshots were lost.
"""

from __future__ import annotations

import secrets

import pytest

from tests.integration.daemon._chaos_helpers import answer, api_snapshots, disk_snapshots, init, remove
from tests.support.chaos import disk_mismatches, read_marker, write_marker

pytestmark = pytest.mark.integration

WORK_LIKE = [".delete-x", ".old-x", ".restore-x", ".tmp-x", ".moves-x", ".tmp-recv-x", ".tmp-xfer-x"]


def _snap(d, name: str, snap: str) -> str:
    """Write a fresh marker, take the snapshot; return the marker's token."""
    token = secrets.token_hex(6)
    write_marker(d, name, token)
    got = answer(d, "POST", f"/1.0/instances/{name}/snapshots", {"name": snap})
    assert got.ok, (snap, got)
    return token


def _tokens(d, name: str) -> dict[str, str | None]:
    """Snapshot name -> marker token on disk, for every snapshot the API lists."""
    root = d.root / "storage-pools" / "default" / "containers-snapshots" / name
    return {s: read_marker(root / s) for s in api_snapshots(d, name)}


def test_tmp_named_snapshot_survives_a_snapshot_of_the_bare_name(daemon, name):
    d = daemon
    try:
        init(d, name)
        want = {".tmp-snap2": _snap(d, name, ".tmp-snap2"), "snap2": _snap(d, name, "snap2")}
        assert _tokens(d, name) == want
        assert disk_snapshots(d, name) == sorted(want)
    finally:
        remove(d, name)


def test_work_like_snapshot_names_survive_restart_and_restore(daemon, name):
    d = daemon
    try:
        init(d, name)
        want = {s: _snap(d, name, s) for s in WORK_LIKE}
        want["plain"] = _snap(d, name, "plain")
        assert _tokens(d, name) == want
        d.restart()
        assert _tokens(d, name) == want, "after a restart"
        assert disk_snapshots(d, name) == sorted(want)
        got = answer(d, "PUT", f"/1.0/instances/{name}", {"restore": "plain"})
        assert got.ok, got
        assert _tokens(d, name) == want, "after a restore of another snapshot"
        assert read_marker(d.root / "storage-pools" / "default" / "containers" / name) == want["plain"]
        d.restart()
        assert _tokens(d, name) == want, "after the restore and a restart"
        assert disk_mismatches(d) == []
    finally:
        remove(d, name)


def test_snapshots_pattern_with_a_work_prefix(daemon, name):
    d = daemon
    try:
        init(d, name)
        got = answer(d, "PATCH", f"/1.0/instances/{name}", {"config": {"snapshots.pattern": ".delete-%d"}})
        assert got.ok, got
        want = {}
        for _ in range(3):
            token = secrets.token_hex(6)
            write_marker(d, name, token)
            got = answer(d, "POST", f"/1.0/instances/{name}/snapshots", {})
            assert got.ok, got
            new = sorted(set(api_snapshots(d, name)) - set(want))
            assert len(new) == 1, new
            want[new[0]] = token
        assert sorted(want) == [".delete-0", ".delete-1", ".delete-2"]
        d.restart()
        assert _tokens(d, name) == want
        assert disk_snapshots(d, name) == sorted(want)
    finally:
        remove(d, name)
