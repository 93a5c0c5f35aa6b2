"""Cost of one scheduler tick itself: expiry query, deciding what is due, retention bookkeeping.

In-process, on the fake runtime and driver, with a simulated clock: the snapshot work is left out
(no snapshot is taken), so the numbers are what the timer costs the daemon every minute. Instances
get a mix of schedules (cron specs, aliases, lists, some from profiles, some none), some carry a
retention policy, and every instance has snapshots with pending expiries, so the expiry queries
scan real rows. "first tick" is a fresh scheduler (empty next-fire cache, as after a restart);
"steady tick" is a tick a minute after the previous one. Nothing is asserted.

    .venv/bin/python bench/bench_scheduler.py [--sizes 10,100,1000] [--ticks 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from pincus.core.services import Services  # noqa: E402
from pincus.core.state import Paths, State  # noqa: E402
from pincus.db.records import InstanceRecord, ProfileRecord, SnapshotRecord  # noqa: E402
from pincus.db.store import Store, db_time  # noqa: E402
from pincus.replication import Replication  # noqa: E402
from pincus.runtime.fake import FakeRuntime  # noqa: E402
from pincus.scheduler import Scheduler, minute_of  # noqa: E402
from pincus.storage.drivers.fake import FakeDriver  # noqa: E402

START = datetime(2026, 11, 26, 7, 0, 30, tzinfo=timezone.utc)
SPECS = ["* * * * *", "*/5 * * * *", "0 * * * *", "@hourly", "@daily", "0 6,18 * * *", "@startup, @daily",
         "15 2 * * 1-5", "30 */2 * * *", "@weekly", "", ""]
PROFILES = {"gfs": {"snapshots.retention.last": "3", "snapshots.retention.daily": "7"},
            "nightly": {"snapshots.schedule": "0 3 * * *", "snapshots.schedule.stopped": "true"}}
SNAPSHOTS_PER_INSTANCE = 3


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def build(root: Path, count: int) -> tuple[Services, Clock]:
    """A daemon's services over a fresh store holding ``count`` instances with schedules and snapshots."""
    clock = Clock()
    paths = Paths(root / "pincus")
    paths.root.mkdir(parents=True)
    st = State(paths=paths, store=Store(root / "local.db"), runtime=FakeRuntime(), clock=clock)
    st.drivers["default"] = FakeDriver("default", paths.pool("default"), {})
    st.store.create_profile(ProfileRecord(name="default", devices={"root": {"type": "disk", "path": "/", "pool": "default"}}))
    for name, config in PROFILES.items():
        st.store.create_profile(ProfileRecord(name=name, config=config))
    created = db_time(START)
    for i in range(count):
        config = {"snapshots.schedule": SPECS[i % len(SPECS)], "snapshots.pattern": "auto-%d"}
        if i % 2:
            config["snapshots.schedule.stopped"] = "true"
        profiles = ["default"] + (["gfs"] if i % 3 == 0 else []) + (["nightly"] if i % 7 == 0 else [])
        if "nightly" in profiles:
            del config["snapshots.schedule"]
        rec = InstanceRecord(name=f"c{i}", pool="default", created_at=created, last_used_at=created,
                             config=config, profiles=profiles)
        st.store.create_instance(rec)
        for j in range(SNAPSHOTS_PER_INSTANCE):
            expires = START + timedelta(days=1 + j, minutes=i)
            st.store.create_snapshot(SnapshotRecord(instance_id=rec.id, name=f"auto-{j}", created_at=created,
                                                    expires_at=db_time(expires), last_used_at=db_time(None)), rec.name)
    return Services.build(st), clock


async def timed_tick(sched: Scheduler, now: datetime) -> tuple[float, int]:
    """One tick without the snapshot work: expiry pruning query, due(), next expiry. Seconds, due count."""
    t0 = time.perf_counter()
    await sched.s.snapshots.prune_expired(now)
    minute = minute_of(now)
    due = sched.due(sched.last_minute or minute, minute)
    sched.last_minute = minute
    sched.delay(now)
    return time.perf_counter() - t0, len(due)


async def measure(count: int, ticks: int) -> dict[str, float]:
    """Median first-tick and steady-tick costs (ms) for ``count`` instances."""
    with tempfile.TemporaryDirectory(prefix="pincus-bench-sched-") as tmp:
        services, clock = build(Path(tmp), count)
        replication = Replication(services)  # wired as in pincusd: its tick is part of the cost
        first: list[float] = []
        for _ in range(5):
            sched = Scheduler(services)
            sched.on_minute.append(replication.tick)
            sched.after_snapshot.append(replication.after_snapshot)
            sched.last_minute = minute_of(clock.now)
            clock.now += timedelta(minutes=1)
            first.append((await timed_tick(sched, clock.now))[0])
        steady: list[float] = []
        due_counts: list[int] = []
        for _ in range(ticks):
            clock.now += timedelta(minutes=1)
            seconds, due = await timed_tick(sched, clock.now)
            steady.append(seconds)
            due_counts.append(due)
        services.st.store.close()
        services.st.executor.shutdown(wait=False)
    return {"first": statistics.median(first) * 1000, "steady": statistics.median(steady) * 1000,
            "min": min(steady) * 1000, "max": max(steady) * 1000, "due": statistics.mean(due_counts)}


def main() -> None:
    """Print a markdown table of tick costs."""
    import asyncio

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--ticks", type=int, default=60)
    args = parser.parse_args()
    print(f"Scheduler tick cost, {args.ticks} simulated minutes per size (milliseconds, medians)\n")
    print("| instances | first tick | steady tick [min–max] | due per tick (mean) |")
    print("|---:|---:|---:|---:|")
    for count in (int(s) for s in args.sizes.split(",")):
        r = asyncio.run(measure(count, args.ticks))
        print(f"| {count:,} | {r['first']:.1f} | {r['steady']:.1f} [{r['min']:.1f}–{r['max']:.1f}] | {r['due']:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
