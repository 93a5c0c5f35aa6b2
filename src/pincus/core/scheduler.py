"""The daemon's timer: expired snapshots go at their expiry, scheduled snapshots at their minute.

Incus checks once a minute, counting from daemon start, so a snapshot lives up to a minute past
its expiry. Here the loop sleeps until the earlier of the next minute boundary and the next
expiry, and is woken when an expiry changes. After downtime, each instance whose schedule fired
while the daemon was down gets one catch-up snapshot, not one per missed minute.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path

from pincus.core import schedule
from pincus.core.config_keys import is_true
from pincus.core.errors import PincusError
from pincus.core.services import Services
from pincus.core.timefmt import format_time, parse_time
from pincus.db.records import InstanceRecord

log = logging.getLogger(__name__)
MINUTE = timedelta(minutes=1)
MAX_SLEEP = 60.0


def minute_of(now: datetime) -> datetime:
    """``now`` truncated to the minute."""
    return now.replace(second=0, microsecond=0)


class Scheduler:
    """Runs inside the daemon; ``poke()`` wakes it when an expiry or a schedule changes."""

    def __init__(self, s: Services, state_file: Path | None = None, concurrency: int = 4) -> None:
        self.s = s
        self.state_file = state_file
        self.wake = asyncio.Event()
        self.limit = asyncio.Semaphore(concurrency)
        self._next: dict[int, tuple[str, datetime | None]] = {}
        self.last_minute: datetime | None = None

    def poke(self) -> None:
        """Re-plan now (an expiry or a schedule changed)."""
        self.wake.set()

    def _load_last(self, now: datetime) -> datetime:
        if self.state_file is not None and self.state_file.exists():
            try:
                last = parse_time(self.state_file.read_text().strip())
                if last is not None and last <= now:
                    return last
            except (OSError, PincusError):
                pass
        return minute_of(now)

    def _save_last(self, minute: datetime) -> None:
        if self.state_file is not None:
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(format_time(minute))
            tmp.replace(self.state_file)

    async def run(self) -> None:
        """Loop forever (cancel to stop)."""
        self.last_minute = self._load_last(self.s.st.clock())
        while True:
            try:
                await self.tick(self.s.st.clock())
            except Exception:  # noqa: BLE001 - the timer must survive any one failure
                log.exception("scheduler tick failed")
            self.wake.clear()
            delay = self.delay(self.s.st.clock())
            try:
                await asyncio.wait_for(self.wake.wait(), delay)
            except TimeoutError:
                pass

    def delay(self, now: datetime) -> float:
        """Seconds until the next minute boundary or the next expiry, whichever is first."""
        target = minute_of(now) + MINUTE
        expiry = self.s.snapshots.next_expiry()
        if expiry is not None and expiry < target:
            target = expiry
        return min(MAX_SLEEP, max(0.0, (target - now).total_seconds()))

    async def tick(self, now: datetime) -> tuple[list[str], list[str]]:
        """Prune what expired by ``now``, then take the snapshots due since the last minute seen."""
        pruned = await self.s.snapshots.prune_expired(now)
        taken: list[str] = []
        minute = minute_of(now)
        if self.last_minute is None:
            self.last_minute = minute
        if minute > self.last_minute:
            taken = await self.take_due(self.last_minute, minute)
            self.last_minute = minute
            self._save_last(minute)
        return pruned, taken

    def due(self, since: datetime, minute: datetime) -> list[InstanceRecord]:
        """Instances whose schedule fires in (since, minute] (local wall time, as Incus)."""
        zone = schedule.local_zone()
        since_l, minute_l = since.astimezone(zone), minute.astimezone(zone)
        out: list[InstanceRecord] = []
        seen: set[int] = set()
        for rec in self.s.st.store.instances():
            config, _ = self.s.instances.expanded(rec)
            spec = config.get("snapshots.schedule", "")
            seen.add(rec.id)
            if not spec:
                self._next.pop(rec.id, None)
                continue
            cached = self._next.get(rec.id)
            if cached is None or cached[0] != spec or (cached[1] is not None and cached[1] <= since_l):
                try:
                    cached = (spec, schedule.next_fire(spec, rec.id, since_l))
                except PincusError:
                    log.warning('instance "%s" has an invalid snapshots.schedule %r', rec.name, spec)
                    cached = (spec, None)
                self._next[rec.id] = cached
            fire = cached[1]
            if fire is None or fire > minute_l:
                continue
            self._next[rec.id] = (spec, schedule.next_fire(spec, rec.id, minute_l))
            if not is_true(config.get("snapshots.schedule.stopped")) and not self.s.instances.is_running(rec):
                continue
            out.append(rec)
        for stale in set(self._next) - seen:
            del self._next[stale]
        return out

    async def take_due(self, since: datetime, minute: datetime) -> list[str]:
        """Take one scheduled snapshot of each due instance, a few at a time."""
        recs = self.due(since, minute)

        async def one(rec: InstanceRecord) -> str | None:
            async with self.limit:
                try:
                    snap = await self.s.snapshots.create(rec.name, manual=False)
                    return f"{rec.name}/{snap.name}"
                except Exception:  # noqa: BLE001 - one instance must not stop the others
                    log.exception('scheduled snapshot of "%s" failed', rec.name)
                    return None

        results = await asyncio.gather(*(one(r) for r in recs))
        return [r for r in results if r]
