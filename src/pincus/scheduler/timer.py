"""The daemon's timer: expired snapshots go at their expiry, scheduled snapshots at their minute.

Incus checks once a minute, counting from daemon start, so a snapshot lives up to a minute past
its expiry. Here the loop sleeps until the earlier of the next minute boundary and the next
expiry, and is woken when an expiry changes. After downtime, each instance whose schedule fired
while the daemon was down gets one catch-up snapshot, not one per missed minute.

Retention (``snapshots.retention.*``, core/prune.py) runs after each scheduled snapshot of an
instance, and at the first minute after its policy appears or changes (or after a daemon start).
Each minute costs one query for instances and one for profiles; an instance's expanded config is
recomputed only when its row or a profile changed (bench/bench_scheduler.py).

Other services ride on the timer through hooks the daemon wires (replication/ starts its refreshes
from ``on_minute`` and ``after_snapshot``), so the timer depends on none of them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pincus.base.errors import PincusError
from pincus.base.gotime import format_time, local_zone, parse_optional_time
from pincus.core import schedule
from pincus.core.config_keys import is_true
from pincus.core.prune import PolicyKey, RetentionWatch, policy_key
from pincus.core.recovery import retry_unsettled
from pincus.core.services import Services
from pincus.db.records import InstanceRecord

log = logging.getLogger(__name__)
MINUTE = timedelta(minutes=1)
MAX_SLEEP = 60.0


def _expand(profiles: dict[str, dict[str, str]], names: list[str], config: dict[str, str]) -> dict[str, str]:
    """An instance's effective config, as profiles.expand, from profiles already read."""
    out: dict[str, str] = {}
    for name in names:
        out.update(profiles.get(name, {}))
    out.update(config)
    return out


@dataclass(frozen=True)
class TimerSettings:
    """What the timer needs of one instance's expanded config."""

    key: tuple[str, str, int]
    spec: str
    stopped_ok: bool
    policy: PolicyKey | None

    @classmethod
    def of(cls, key: tuple[str, str, int], config: dict[str, str]) -> TimerSettings:
        """TimerSettings from an expanded config."""
        return cls(key, config.get("snapshots.schedule", ""), is_true(config.get("snapshots.schedule.stopped")),
                   policy_key(config))


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
        self.retention = RetentionWatch()
        self._settings: dict[int, TimerSettings] = {}
        self._profiles: dict[str, dict[str, str]] = {}
        self._profiles_epoch = 0
        # (previous minute, this minute) at each new minute, after that minute's snapshots
        self.on_minute: list[Callable[[datetime, datetime], object]] = []
        # each instance just given a scheduled snapshot
        self.after_snapshot: list[Callable[[InstanceRecord], object]] = []

    def poke(self) -> None:
        """Re-plan now (an expiry or a schedule changed)."""
        self.wake.set()

    def _load_last(self, now: datetime) -> datetime:
        if self.state_file is not None and self.state_file.exists():
            try:
                last = parse_optional_time(self.state_file.read_text().strip())
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
        """Prune what expired by ``now``, then take the snapshots due since the last minute seen and
        apply retention (after each scheduled snapshot, and where a policy is new or changed)."""
        pruned = await self.s.snapshots.prune_expired(now)
        taken: list[str] = []
        minute = minute_of(now)
        if self.last_minute is None:
            self.last_minute = minute
        if minute > self.last_minute:
            await retry_unsettled(self.s)  # an interrupted change whose recovery failed earlier
            taken = await self.take_due(self.last_minute, minute)
            for hook in self.on_minute:
                hook(self.last_minute, minute)
            self.last_minute = minute
            self._save_last(minute)
            await self.retention.prune_changed(self.s)
        return [*pruned, *self.retention.drain()], taken

    def settings(self) -> list[tuple[int, str, TimerSettings]]:
        """``(id, name, settings)`` of every instance, from one query for instances and one for
        profiles; an instance is expanded again only when its config, its profiles or a profile changed."""
        store = self.s.st.store
        profiles = {p.name: p.config for p in store.profiles()}
        if profiles != self._profiles:
            self._profiles, self._profiles_epoch = profiles, self._profiles_epoch + 1
        out: list[tuple[int, str, TimerSettings]] = []
        for inst_id, name, config_json, profiles_json in store.instance_config_rows():
            key = (config_json, profiles_json, self._profiles_epoch)
            cur = self._settings.get(inst_id)
            if cur is None or cur.key != key:
                cur = TimerSettings.of(key, _expand(profiles, json.loads(profiles_json), json.loads(config_json)))
                self._settings[inst_id] = cur
            out.append((inst_id, name, cur))
        return out

    def _fire(self, spec: str, inst_id: int, after: datetime, memo: dict[tuple[str, int, datetime], datetime | None]) -> datetime | None:
        """Next firing after ``after``; cron specs without an alias do not depend on the instance,
        so instances sharing one are computed once per tick."""
        key = (spec, inst_id if "@" in spec else 0, after)
        if key not in memo:
            memo[key] = schedule.next_fire(spec, key[1], after)
        return memo[key]

    def due(self, since: datetime, minute: datetime) -> list[InstanceRecord]:
        """Instances whose schedule fires in (since, minute] (local wall time, as Incus)."""
        zone = local_zone()
        since_l, minute_l = since.astimezone(zone), minute.astimezone(zone)
        out: list[InstanceRecord] = []
        memo: dict[tuple[str, int, datetime], datetime | None] = {}
        rows = self.settings()
        for inst_id, name, cur in rows:
            self.retention.observe(inst_id, name, cur.policy)
            spec = cur.spec
            cached = self._next.get(inst_id)
            if not spec:
                self._next.pop(inst_id, None)
                continue
            if cached is None or cached[0] != spec or (cached[1] is not None and cached[1] <= since_l):
                try:
                    cached = (spec, self._fire(spec, inst_id, since_l, memo))
                except PincusError:
                    log.warning('instance "%s" has an invalid snapshots.schedule %r', name, spec)
                    cached = (spec, None)
                self._next[inst_id] = cached
            fire = cached[1]
            if fire is None or fire > minute_l:
                continue
            self._next[inst_id] = (spec, self._fire(spec, inst_id, minute_l, memo))
            rec = self.s.st.store.get_instance(name)
            if cur.stopped_ok or self.s.instances.is_running(rec):
                out.append(rec)
        seen = {inst_id for inst_id, _, _ in rows}
        for stale in set(self._next) - seen:
            del self._next[stale]
        for stale in set(self._settings) - seen:
            del self._settings[stale]
        self.retention.forget_others(seen)
        return out

    async def take_due(self, since: datetime, minute: datetime) -> list[str]:
        """Take one scheduled snapshot of each due instance, a few at a time."""
        recs = self.due(since, minute)

        async def one(rec: InstanceRecord) -> str | None:
            async with self.limit:
                try:
                    snap = await self.s.snapshots.create(rec.name, manual=False)
                except Exception:  # noqa: BLE001 - one instance must not stop the others
                    log.exception('scheduled snapshot of "%s" failed', rec.name)
                    return None
                for after in self.after_snapshot:
                    after(rec)
                try:
                    await self.retention.prune(self.s, rec)
                except Exception:  # noqa: BLE001 - the snapshot was taken; retention retries next time
                    log.exception('retention of instance "%s" failed', rec.name)
                return f"{rec.name}/{snap.name}"

        results = await asyncio.gather(*(one(r) for r in recs))
        return [r for r in results if r]
