"""The real timer on real containers: a scheduled snapshot at a real minute boundary, deleted at its
expiry (not a minute late), and retention removing the older scheduled snapshot of a second instance."""

from __future__ import annotations

import time

import pytest

from pincus.base.gotime import parse_optional_time

pytestmark = pytest.mark.integration


def _snapshots(d, name: str) -> dict[str, dict]:
    status, data = d.api("GET", f"/1.0/instances/{name}/snapshots?recursion=1")
    assert status == 200, data
    return {s["name"]: s for s in data["metadata"]}


def _epoch(text: str) -> float:
    when = parse_optional_time(text)
    assert when is not None
    return when.timestamp()


def _away_from_a_minute_boundary() -> None:
    """Configure both instances within one minute, so both fire at the same boundaries."""
    second = time.time() % 60
    if second > 52:
        time.sleep(61 - second)


@pytest.mark.parametrize("daemon", ["dir"], indirect=True)
def test_scheduled_snapshot_expires_on_time_and_retention_keeps_the_last(daemon, name):
    d = daemon
    kept = f"{name}-r"
    d.run("launch", "busybox", name)
    d.run("init", "busybox", kept)
    d.run("snapshot", "create", kept, "manual")
    _away_from_a_minute_boundary()
    d.run("config", "set", kept, "snapshots.schedule=* * * * *", "snapshots.schedule.stopped=true",
          "snapshots.pattern=auto-%d", "snapshots.retention.last=1")
    d.run("config", "set", name, "snapshots.schedule=* * * * *", "snapshots.pattern=auto-%d",
          "snapshots.expiry=1M")
    seen: dict[str, tuple[float, float]] = {}  # name -> (first, last) time seen
    expires = 0.0
    deadline = time.time() + 135
    while time.time() < deadline:
        now, snaps = time.time(), _snapshots(d, name)
        for snap in snaps:
            seen[snap] = (seen.get(snap, (now, now))[0], now)
        if "auto-0" in snaps and not expires:
            expires = _epoch(snaps["auto-0"]["expires_at"])
            created = _epoch(snaps["auto-0"]["created_at"])
            assert created % 60 < 5, "taken at the minute boundary"
            assert abs(expires - created - 60) < 0.01
        if expires and "auto-0" not in snaps:
            break
        time.sleep(0.2)
    assert expires, f"no scheduled snapshot within two minutes: {seen}"
    last_seen = seen["auto-0"][1]
    assert "auto-1" in seen and "auto-0" not in _snapshots(d, name)
    assert last_seen >= expires - 1.0, "deleted before its expiry"
    assert last_seen <= expires + 3.0, "deleted more than a few seconds after its expiry"
    # The second instance took auto-0 and auto-1 at the same boundaries; retention left the newest.
    for _ in range(50):
        if sorted(_snapshots(d, kept)) == ["auto-1", "manual"]:
            break
        time.sleep(0.1)
    assert sorted(_snapshots(d, kept)) == ["auto-1", "manual"]
    d.run("delete", "--force", name)
    d.run("delete", kept)
