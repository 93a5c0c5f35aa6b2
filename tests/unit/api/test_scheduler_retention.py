"""Retention applied by the daemon's timer, on fakes with an injected clock."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from pincus.core.prune import apply_prune, plan_prune
from pincus.core.retention import RetentionPolicy
from pincus.scheduler import Scheduler

SNAPS = "/1.0/instances/c1/snapshots"
EVERY_MINUTE = {"snapshots.schedule": "* * * * *", "snapshots.schedule.stopped": "true",
                "snapshots.pattern": "auto-%d"}


@pytest.fixture(autouse=True)
def rome(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Rome")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def _names(api) -> list[str]:
    return [s["name"] for s in await api.ok("GET", SNAPS + "?recursion=1")]


async def _minutes(api, sched: Scheduler, count: int) -> list[str]:
    """Tick once to set the reference minute, then ``count`` more a minute apart; return what was pruned."""
    pruned: list[str] = []
    await sched.tick(api.clock.now)
    for _ in range(count):
        api.clock.advance(minutes=1)
        pruned += (await sched.tick(api.clock.now))[0]
    return pruned


def _actions(listener) -> list[tuple[str, str]]:
    out = []
    while not listener.queue.empty():
        meta = listener.queue.get_nowait()["metadata"]
        out.append((meta["action"], meta["source"].rsplit("/", 1)[-1]))
    return out


async def test_retention_prunes_after_each_scheduled_snapshot_and_spares_manual_ones(api):
    await api.create(config={**EVERY_MINUTE, "snapshots.retention.last": "2"})
    sched = Scheduler(api.services)
    await api.ok("POST", SNAPS, {"name": "before-upgrade"})
    listener = api.services.st.hub.subscribe({"lifecycle"})
    pruned = await _minutes(api, sched, 4)
    assert await _names(api) == ["before-upgrade", "auto-2", "auto-3"]
    assert pruned == ["c1/auto-0", "c1/auto-1"]
    assert ("instance-snapshot-deleted", "auto-0") in _actions(listener)


async def test_a_new_policy_applies_at_the_next_minute_without_a_snapshot(api):
    await api.create(config={**EVERY_MINUTE})
    sched = Scheduler(api.services)
    await _minutes(api, sched, 4)
    assert await _names(api) == ["auto-0", "auto-1", "auto-2", "auto-3"]
    await api.ok("PATCH", "/1.0/instances/c1", {"config": {"snapshots.schedule": "@yearly",
                                                           "snapshots.retention.last": "1"}})
    api.clock.advance(minutes=1)
    pruned, taken = await sched.tick(api.clock.now)
    assert taken == [] and pruned == ["c1/auto-2", "c1/auto-1", "c1/auto-0"]
    assert await _names(api) == ["auto-3"]
    api.clock.advance(minutes=1)
    assert await sched.tick(api.clock.now) == ([], [])  # applied once, not every minute


async def test_a_restarted_daemon_applies_retention_at_its_first_minute(api):
    await api.create(config={**EVERY_MINUTE})
    await _minutes(api, Scheduler(api.services), 3)
    await api.ok("PATCH", "/1.0/instances/c1", {"config": {"snapshots.schedule": "",
                                                           "snapshots.retention.last": "1"}})
    restarted = Scheduler(api.services)
    await _minutes(api, restarted, 1)
    assert await _names(api) == ["auto-2"]


async def test_retention_keys_from_a_profile(api):
    await api.ok("POST", "/1.0/profiles", {"name": "gfs", "config": {"snapshots.retention.last": "1"}})
    await api.ok("POST", "/1.0/instances", {"name": "c1", "source": {"type": "none"}, "config": EVERY_MINUTE,
                                            "profiles": ["default", "gfs"]})
    await _minutes(api, Scheduler(api.services), 3)
    assert await _names(api) == ["auto-2"]


async def test_gfs_over_days_in_local_time(api):
    # Every 6 hours for 4 days, Rome time; keep the 2 newest and the newest of each of the last 3 days.
    await api.create(config={"snapshots.schedule": "0 */6 * * *", "snapshots.schedule.stopped": "true",
                             "snapshots.pattern": "{{ creation_date|date:'2006-01-02_15-04' }}",
                             "snapshots.retention.last": "2", "snapshots.retention.daily": "3"})
    api.clock.now = datetime(2026, 11, 26, 11, 0, tzinfo=timezone.utc)  # 12:00 in Rome
    sched = Scheduler(api.services)
    await sched.tick(api.clock.now)
    for _ in range(16):
        api.clock.advance(hours=6)
        await sched.tick(api.clock.now)
    assert await _names(api) == ["2026-11-28_18-00", "2026-11-29_18-00", "2026-11-30_06-00", "2026-11-30_12-00"]
    plan = plan_prune(api.services, "c1")
    assert plan.keep["2026-11-30_12-00"] == ("last 1", "daily 2026-11-30")
    assert plan.keep["2026-11-28_18-00"] == ("daily 2026-11-28",)
    assert plan.prune == ()


async def test_plan_and_apply(api):
    await api.create(config={**EVERY_MINUTE, "snapshots.retention.daily": "1"})
    for _ in range(2):  # as the scheduler takes them: auto-0, auto-1
        await api.services.snapshots.create("c1", manual=False)
        api.clock.advance(seconds=10)
    await api.ok("POST", SNAPS, {"name": "manual"})
    api.clock.advance(seconds=10)
    await api.ok("POST", SNAPS, {})  # an unnamed manual snapshot: the pattern names it auto-2
    plan = plan_prune(api.services, "c1")
    assert plan.policy == RetentionPolicy(daily=1) and plan.source == "snapshots.retention."
    assert plan.keep == {"auto-1": ("daily 2026-11-26",)}
    assert plan.prune == ("auto-0",) and plan.unmanaged == ("manual", "auto-2")
    await api.ok("DELETE", f"{SNAPS}/auto-0")  # gone meanwhile: skipped, not an error
    assert await apply_prune(api.services, plan) == []
    assert await _names(api) == ["auto-1", "manual", "auto-2"]


async def test_no_policy_prunes_nothing(api):
    await api.create(config=EVERY_MINUTE)
    assert await _minutes(api, Scheduler(api.services), 3) == []
    assert await _names(api) == ["auto-0", "auto-1", "auto-2"]


@pytest.mark.parametrize("config,message", [
    ({"snapshots.retention.daly": "3"}, "Unknown configuration key: snapshots.retention.daly"),
    ({"snapshots.retention.daily": "-1"}, 'Invalid value for "snapshots.retention.daily": must be a non-negative'),
    ({"snapshots.retention.last": "two"}, 'Invalid value for "snapshots.retention.last"'),
])
async def test_retention_keys_are_validated_at_config_set(api, config, message):
    await api.create()
    status, data = await api.call("PATCH", "/1.0/instances/c1", {"config": config})
    assert status == 400 and message in data["error"]
    status, data = await api.call("POST", "/1.0/profiles", {"name": "p", "config": config})
    assert status == 400 and message in data["error"]


async def test_all_six_retention_keys_are_accepted(api):
    keys = {f"snapshots.retention.{r}": "1" for r in ("last", "hourly", "daily", "weekly", "monthly", "yearly")}
    await api.create(config=keys)
    inst = await api.ok("GET", "/1.0/instances/c1")
    assert all(inst["config"][k] == "1" for k in keys)


async def test_a_profile_change_reaches_the_timer_at_the_next_minute(api):
    await api.ok("POST", "/1.0/profiles", {"name": "auto", "config": {}})
    await api.ok("POST", "/1.0/instances", {"name": "c1", "source": {"type": "none"}, "profiles": ["default", "auto"],
                                            "config": {"snapshots.pattern": "auto-%d"}})
    sched = Scheduler(api.services)
    assert await _minutes(api, sched, 2) == [] and await _names(api) == []
    await api.ok("PUT", "/1.0/profiles/auto", {"config": {"snapshots.schedule": "* * * * *",
                                                          "snapshots.schedule.stopped": "true"}})
    api.clock.advance(minutes=1)
    assert (await sched.tick(api.clock.now))[1] == ["c1/auto-0"]
    api.clock.advance(minutes=1)
    await sched.tick(api.clock.now)
    await api.ok("PATCH", "/1.0/profiles/auto", {"config": {"snapshots.retention.last": "1"}})
    api.clock.advance(minutes=1)
    pruned, taken = await sched.tick(api.clock.now)
    assert taken == ["c1/auto-2"] and pruned == ["c1/auto-1", "c1/auto-0"]
