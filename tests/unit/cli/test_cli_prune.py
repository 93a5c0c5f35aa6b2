"""``pincus snapshot prune`` over the standard API, on the fake daemon."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fakeincus import FakeIncus, sync

INST_URL = "/1.0/instances/c1"


@pytest.fixture(autouse=True)
def utc(fake: FakeIncus) -> None:
    """The fake fixture sets TZ=UTC; make the C library's local time follow it for the dates printed."""
    time.tzset()


def _snap(name: str, created: str) -> dict[str, Any]:
    return {"name": name, "created_at": created, "expires_at": "0001-01-01T00:00:00Z", "stateful": False,
            "config": {}, "devices": {}, "profiles": ["default"], "size": -1}


SNAPSHOTS = [
    _snap("auto-0", "2025-03-01T10:00:00.123456789Z"),
    _snap("auto-1", "2025-03-02T10:00:00Z"),
    _snap("before-upgrade", "2025-03-02T11:00:00Z"),
    _snap("auto-2", "2025-03-02T12:00:00Z"),
    _snap("auto-3", "2025-03-03T10:00:00Z"),
]


def _serve(fake: FakeIncus, config: dict[str, str], snapshots: list[dict[str, Any]] = SNAPSHOTS) -> None:
    inst = {"name": "c1", "config": config, "expanded_config": {"snapshots.pattern": "auto-%d", **config},
            "devices": {}, "expanded_devices": {}, "profiles": ["default"], "status": "Running"}
    fake.route("GET", INST_URL, sync(inst))
    fake.route("GET", f"{INST_URL}/snapshots", sync(snapshots))
    for snap in snapshots:
        fake.route("DELETE", f"{INST_URL}/snapshots/{snap['name']}", lambda req: fake.operation())


def _deletes(fake: FakeIncus) -> list[str]:
    return [path.rsplit("/", 1)[-1] for method, path in fake.calls if method == "DELETE"]


def test_dry_run_shows_the_plan_and_changes_nothing(fake: FakeIncus, pincus: Any) -> None:
    _serve(fake, {"snapshots.retention.last": "1", "snapshots.retention.daily": "2"})
    res = pincus("snapshot", "prune", "c1", "--dry-run")
    assert res.code == 0, res.err
    assert _deletes(fake) == []
    lines = res.out.splitlines()
    assert lines[0] == "Retention policy of c1 (snapshots.retention.*): last=1 daily=2"
    table = "\n".join(lines[1:])
    assert "| auto-3         | 2025/03/03 10:00 UTC | keep   | last 1, daily 2025-03-03" in table
    assert "| auto-2         | 2025/03/02 12:00 UTC | keep   | daily 2025-03-02" in table
    assert "| auto-1         | 2025/03/02 10:00 UTC | delete |" in table
    assert "| before-upgrade | 2025/03/02 11:00 UTC | skip   | not named by snapshots.pattern auto-%d" in table
    assert lines[-1] == "2 snapshots would be deleted (dry run: nothing changed)"


def test_prune_deletes_what_the_dry_run_showed_oldest_first(fake: FakeIncus, pincus: Any) -> None:
    _serve(fake, {"snapshots.retention.last": "1", "snapshots.retention.daily": "2"})
    res = pincus("snapshot", "prune", "c1")
    assert res.code == 0, res.err
    assert _deletes(fake) == ["auto-0", "auto-1"]
    assert res.out.splitlines()[-1] == "2 snapshots deleted"


def test_user_keys_for_a_real_incus(fake: FakeIncus, pincus: Any) -> None:
    _serve(fake, {"user.snapshots.retention.last": "3"})
    res = pincus("snapshot", "prune", "c1")
    assert res.code == 0, res.err
    assert res.out.startswith("Retention policy of c1 (user.snapshots.retention.*): last=3\n")
    assert _deletes(fake) == ["auto-0"]


def test_the_snapshots_keys_win_over_the_user_keys(fake: FakeIncus, pincus: Any) -> None:
    _serve(fake, {"user.snapshots.retention.last": "1", "snapshots.retention.last": "4"})
    assert pincus("snapshot", "prune", "c1").code == 0
    assert _deletes(fake) == []


def test_no_policy_prunes_nothing(fake: FakeIncus, pincus: Any) -> None:
    _serve(fake, {})
    res = pincus("snapshot", "prune", "c1")
    assert res.code == 0 and "has no retention policy" in res.out
    assert _deletes(fake) == []


@pytest.mark.parametrize("value", ["-1", "many"])
def test_a_bad_user_key_is_an_error_naming_it(fake: FakeIncus, pincus: Any, value: str) -> None:
    _serve(fake, {"user.snapshots.retention.daily": value})
    res = pincus("snapshot", "prune", "c1")
    assert res.code == 1
    assert res.err.startswith('Error: Invalid value for "user.snapshots.retention.daily": must be a non-negative')
    assert _deletes(fake) == []


def test_periods_follow_the_local_time_zone(fake: FakeIncus, pincus: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # 2025-03-02T23:30Z is already 3 March in Rome: the day of auto-1 depends on the zone.
    snaps = [_snap("auto-0", "2025-03-02T22:00:00Z"), _snap("auto-1", "2025-03-02T23:30:00Z"),
             _snap("auto-2", "2025-03-03T10:00:00Z")]
    _serve(fake, {"snapshots.retention.daily": "2"}, snaps)
    assert pincus("snapshot", "prune", "c1").code == 0
    monkeypatch.setenv("TZ", "Europe/Rome")
    time.tzset()
    try:
        assert pincus("snapshot", "prune", "c1").code == 0
        assert _deletes(fake) == ["auto-0", "auto-1"]  # in UTC auto-0 goes, in Rome auto-1
    finally:
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()


def test_help_lists_prune(fake: FakeIncus, pincus: Any) -> None:
    assert "prune" in pincus("snapshot", "--help").out
