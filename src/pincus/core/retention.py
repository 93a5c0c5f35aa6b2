"""Snapshot retention (``snapshots.retention.*``): which snapshots a GFS policy keeps.

A pure function of ``(policy, snapshots, now)``: no I/O, no clock, standard library only, so the
daemon and the CLI share it. The rules are those of borg, restic and lxd-snapper:

- ``last=N`` keeps the N newest snapshots.
- ``hourly/daily/weekly/monthly/yearly=N`` keeps the newest snapshot of each of the N most recent
  hours/days/ISO weeks/months/years *that have a snapshot* (periods without one are not counted,
  so a month of downtime never empties the list).
- Every rule is applied on its own, to all snapshots; a snapshot kept by several rules uses one
  slot of each (the restic way; borg instead skips what an earlier rule already kept). What is
  kept is the union, with every reason it is kept.
- A count of 0 (or a missing key) disables that rule; with no rule at all everything is kept.
- Snapshots dated after ``now`` (a clock that went back) are always kept and count for no rule,
  so a jump back in time cannot make every new snapshot the first to go.

Periods are calendar periods in the zone of ``now`` (the daemon passes its local time). A day is a
local date whether it lasts 23, 24 or 25 hours; an hour is a local wall hour with its UTC offset,
so the repeated hour of a fall-back night is two hours; weeks are ISO weeks (Monday to Sunday,
ISO week-numbering year, so 2026-12-31 and 2027-01-01 share week 2026-W53). Snapshots with the
same date are ordered by name, digits compared as numbers: ``auto-10`` is newer than ``auto-9``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone, tzinfo

CONFIG_PREFIX = "snapshots.retention."
USER_PREFIX = "user.snapshots.retention."
RULES = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
FUTURE = "newer than now"
NO_POLICY = "no retention policy"
_COUNT = re.compile(r"[0-9]+")
_DIGITS = re.compile(r"([0-9]+)")


@dataclass(frozen=True)
class RetentionPolicy:
    """How many snapshots each rule keeps (0 = rule not used)."""

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                raise ValueError(f"retention {f.name} must not be negative")

    @property
    def enabled(self) -> bool:
        """Whether any rule is set (retention is opt-in)."""
        return any(self.counts().values())

    def counts(self) -> dict[str, int]:
        """Rule name to count, in rule order."""
        return {rule: getattr(self, rule) for rule in RULES}

    def describe(self) -> str:
        """``last=2 daily=7``, or ``none``."""
        return " ".join(f"{k}={v}" for k, v in self.counts().items() if v) or "none"

    @classmethod
    def from_config(cls, config: Mapping[str, str], prefix: str = CONFIG_PREFIX) -> RetentionPolicy:
        """Read ``<prefix>last`` ... ``<prefix>yearly``; empty or missing is 0."""
        return cls(**{rule: parse_count(prefix + rule, config.get(prefix + rule, "")) for rule in RULES})


def parse_count(key: str, value: str) -> int:
    """A retention count: digits only (empty is 0); ValueError naming the key otherwise."""
    if value == "":
        return 0
    if not _COUNT.fullmatch(value):
        raise ValueError(f'Invalid value for "{key}": must be a non-negative integer, got {value!r}')
    return int(value)


def find_policy(config: Mapping[str, str], prefixes: Iterable[str] = (CONFIG_PREFIX,)) -> tuple[RetentionPolicy, str]:
    """The policy under the first prefix that has any retention key set, and that prefix."""
    chosen = list(prefixes)
    for prefix in chosen:
        if any(config.get(prefix + rule, "") for rule in RULES):
            return RetentionPolicy.from_config(config, prefix), prefix
    return RetentionPolicy(), chosen[0] if chosen else CONFIG_PREFIX


@dataclass(frozen=True)
class Retention:
    """The outcome: names kept (newest first, with their reasons) and names to prune (newest first)."""

    keep: dict[str, tuple[str, ...]]
    prune: tuple[str, ...]

    @property
    def kept(self) -> set[str]:
        """The names kept."""
        return set(self.keep)


def _offset(t: datetime) -> str:
    off = t.utcoffset() or timedelta(0)
    sign, minutes = ("-" if off < timedelta(0) else "+"), abs(int(off.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _hour(t: datetime) -> tuple[object, str]:
    return (t.date(), t.hour, t.utcoffset()), f"{t:%Y-%m-%d %H}:00{_offset(t)}"


def _week(t: datetime) -> tuple[object, str]:
    year, week, _ = t.isocalendar()
    return (year, week), f"{year:04d}-W{week:02d}"


_PERIODS: dict[str, Callable[[datetime], tuple[object, str]]] = {
    "hourly": _hour,
    "daily": lambda t: (t.date(), t.date().isoformat()),
    "weekly": _week,
    "monthly": lambda t: ((t.year, t.month), f"{t.year:04d}-{t.month:02d}"),
    "yearly": lambda t: (t.year, f"{t.year:04d}"),
}


def _name_key(name: str) -> tuple[object, ...]:
    """Natural order: text parts as text, digit runs as numbers (re.split alternates the two)."""
    return tuple(int(p) if i % 2 else p for i, p in enumerate(_DIGITS.split(name)))


def _newest_first(snapshots: Iterable[tuple[str, datetime]]) -> list[tuple[str, datetime]]:
    """Sorted by instant (in UTC: Python compares datetimes of one zone by wall clock, ignoring folds)."""
    items: list[tuple[str, datetime]] = []
    for name, created in snapshots:
        if created.tzinfo is None or created.utcoffset() is None:
            raise ValueError(f'snapshot "{name}" has a naive creation date')
        items.append((name, created.astimezone(timezone.utc)))
    if len({name for name, _ in items}) != len(items):
        raise ValueError("snapshot names must be unique")
    return sorted(items, key=lambda s: (s[1], _name_key(s[0])), reverse=True)


def _apply_rule(rule: str, count: int, snaps: list[tuple[str, datetime]], zone: tzinfo,
                reasons: dict[str, list[str]]) -> None:
    """Give the newest snapshot of each of the ``count`` newest periods a reason."""
    if rule == "last":
        for rank, (name, _) in enumerate(snaps[:count], start=1):
            reasons[name].append(f"last {rank}")
        return
    period = _PERIODS[rule]
    seen: set[object] = set()
    for name, created in snaps:
        key, label = period(created.astimezone(zone))
        if key in seen:
            continue
        seen.add(key)
        reasons[name].append(f"{rule} {label}")
        if len(seen) == count:
            return


def evaluate(policy: RetentionPolicy, snapshots: Iterable[tuple[str, datetime]], now: datetime) -> Retention:
    """Apply ``policy`` to ``(name, created_at)`` pairs at ``now`` (aware; its zone sets the periods)."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    ordered = _newest_first(snapshots)
    utc_now = now.astimezone(timezone.utc)
    reasons: dict[str, list[str]] = {name: [] for name, _ in ordered}
    past = [s for s in ordered if s[1] <= utc_now]
    for name, created in ordered:
        if created > utc_now:
            reasons[name].append(FUTURE)
    if not policy.enabled:
        for name in reasons:
            reasons[name] = reasons[name] or [NO_POLICY]
    for rule, count in policy.counts().items():
        if count:
            _apply_rule(rule, count, past, now.tzinfo, reasons)
    keep = {name: tuple(why) for name, why in reasons.items() if why}
    return Retention(keep, tuple(name for name, _ in ordered if name not in keep))


def snapshots_to_keep(policy: RetentionPolicy, snapshots: Iterable[tuple[str, datetime]], now: datetime) -> set[str]:
    """The names ``policy`` keeps at ``now`` (see ``evaluate`` for the reasons)."""
    return evaluate(policy, snapshots, now).kept
