from __future__ import annotations

from datetime import timedelta

from pincus.scheduler import Scheduler

SNAPS = "/1.0/instances/c1/snapshots"


async def _names(api) -> list[str]:
    return [s["name"] for s in await api.ok("GET", SNAPS + "?recursion=1")]


async def test_expired_snapshot_goes_at_its_expiry_not_a_minute_later(api):
    await api.create()
    await api.ok("POST", SNAPS, {"name": "s1", "expires_at": "2026-11-26T07:00:30Z"})
    sched = Scheduler(api.services)
    assert sched.delay(api.clock.now) == 30.0  # wakes at the expiry, not at the next minute
    api.clock.advance(seconds=29)
    assert (await sched.tick(api.clock.now))[0] == []
    api.clock.advance(seconds=1)
    assert (await sched.tick(api.clock.now))[0] == ["c1/s1"]
    assert await _names(api) == []


async def test_schedule_takes_one_snapshot_per_due_minute_with_pattern_and_expiry(api):
    await api.create(config={"snapshots.schedule": "* * * * *", "snapshots.pattern": "auto-%d",
                             "snapshots.expiry": "2M", "snapshots.schedule.stopped": "true"})
    sched = Scheduler(api.services)
    await sched.tick(api.clock.now)  # first look: sets the reference minute
    for _ in range(3):
        api.clock.advance(minutes=1)
        await sched.tick(api.clock.now)
    # 07:01 auto-0 (expires 07:03), 07:02 auto-1, 07:03 auto-2; auto-0 expired exactly at 07:03
    assert await _names(api) == ["auto-1", "auto-2"]
    snap = await api.ok("GET", f"{SNAPS}/auto-2")
    assert snap["expires_at"].startswith("2026-11-26T07:05:00")


async def test_stopped_instances_are_skipped_unless_schedule_stopped(api):
    await api.create(config={"snapshots.schedule": "* * * * *"})
    sched = Scheduler(api.services)
    await sched.tick(api.clock.now)
    api.clock.advance(minutes=1)
    await sched.tick(api.clock.now)
    assert await _names(api) == []
    await api.ok("PUT", "/1.0/instances/c1/state", {"action": "start"})
    api.clock.advance(minutes=1)
    _, taken = await sched.tick(api.clock.now)
    assert taken == ["c1/snap0"]


async def test_downtime_gives_one_catch_up_snapshot_not_a_burst(api, tmp_path):
    await api.create(config={"snapshots.schedule": "@hourly", "snapshots.schedule.stopped": "true"})
    state = tmp_path / "scheduler.last"
    sched = Scheduler(api.services, state_file=state)
    await sched.tick(api.clock.now)
    api.clock.advance(minutes=1)
    await sched.tick(api.clock.now)
    api.clock.advance(hours=5)  # daemon down for five hours
    restarted = Scheduler(api.services, state_file=state)
    restarted.last_minute = restarted._load_last(api.clock.now)
    _, taken = await restarted.tick(api.clock.now)
    assert len(taken) == 1


async def test_manual_snapshots_use_manual_expiry_scheduled_ones_do_not(api):
    await api.create(config={"snapshots.schedule": "* * * * *", "snapshots.schedule.stopped": "true",
                             "snapshots.expiry": "1d", "snapshots.expiry.manual": "1w"})
    sched = Scheduler(api.services)
    await sched.tick(api.clock.now)
    api.clock.advance(minutes=1)
    await sched.tick(api.clock.now)
    await api.ok("POST", SNAPS, {"name": "manual"})
    auto = await api.ok("GET", f"{SNAPS}/snap0")
    manual = await api.ok("GET", f"{SNAPS}/manual")
    assert auto["expires_at"].startswith("2026-11-27T07:01")
    assert manual["expires_at"].startswith("2026-12-03T07:01")


async def test_startup_schedule_snapshots_on_start(api):
    await api.create(config={"snapshots.schedule": "@startup, @daily"})
    await api.ok("PUT", "/1.0/instances/c1/state", {"action": "start"})
    assert await _names(api) == ["snap0"]


async def test_invalid_schedule_is_refused_at_config_set(api):
    await api.create()
    status, data = await api.call("PATCH", "/1.0/instances/c1", {"config": {"snapshots.schedule": "61 * * * *"}})
    assert status == 400 and "snapshots.schedule" in data["error"]
    status, data = await api.call("PATCH", "/1.0/instances/c1", {"config": {"snapshots.expiry": "1x"}})
    assert status == 400 and "snapshots.expiry" in data["error"]


async def test_delay_never_exceeds_a_minute(api):
    sched = Scheduler(api.services)
    assert 0 < sched.delay(api.clock.now + timedelta(seconds=10)) <= 60
