"""When the daemon starts replications: on snapshots.replicate.schedule, or after each scheduled
snapshot when that key is empty; never twice at once for one instance (fakes; no transfer)."""

from __future__ import annotations

import asyncio

from pincus.scheduler import Scheduler


def _scheduler(api) -> Scheduler:
    """A timer wired to replication as pincusd wires it."""
    sched = Scheduler(api.services)
    sched.on_minute.append(api.replication.tick)
    sched.after_snapshot.append(api.replication.after_snapshot)
    return sched


def _record_starts(api) -> list[str]:
    started: list[str] = []

    async def fake_replicate(name: str) -> None:
        started.append(name)
        await asyncio.sleep(0)

    api.replication.replicate = fake_replicate
    return started


async def test_replicate_schedule_fires_on_its_own_minutes(api):
    await api.create(config={"snapshots.replicate.target": "backup", "snapshots.replicate.schedule": "*/2 * * * *"})
    started = _record_starts(api)
    sched = _scheduler(api)
    await sched.tick(api.clock.now)  # 07:00: reference minute
    for _ in range(4):  # 07:01 .. 07:04
        api.clock.advance(minutes=1)
        await sched.tick(api.clock.now)
        await asyncio.sleep(0.01)
    assert started == ["c1", "c1"]  # 07:02 and 07:04


async def test_without_own_schedule_each_scheduled_snapshot_is_followed_by_a_refresh(api):
    await api.create(config={"snapshots.replicate.target": "backup", "snapshots.schedule": "* * * * *",
                             "snapshots.schedule.stopped": "true"})
    started = _record_starts(api)
    sched = _scheduler(api)
    await sched.tick(api.clock.now)
    api.clock.advance(minutes=1)
    await sched.tick(api.clock.now)
    await asyncio.sleep(0.01)
    assert started == ["c1"]


async def test_no_target_no_replication_and_no_overlap(api):
    await api.create(config={"snapshots.replicate.schedule": "* * * * *"})
    started = _record_starts(api)
    sched = _scheduler(api)
    await sched.tick(api.clock.now)
    api.clock.advance(minutes=1)
    await sched.tick(api.clock.now)
    assert started == []
    gate = asyncio.Event()

    async def slow(name: str) -> None:
        started.append(name)
        await gate.wait()

    api.replication.replicate = slow
    assert api.replication.start("c1") is True
    await asyncio.sleep(0)
    assert api.replication.start("c1") is False  # one at a time per instance
    gate.set()
    await asyncio.sleep(0.01)
    assert started == ["c1"]
