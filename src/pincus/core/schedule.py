"""Snapshot schedules (``snapshots.schedule``): validation, alias expansion and evaluation.

A schedule is one 5-field cron expression (robfig/cron ``ParseStandard``: ``*``, ``?``, lists,
ranges, steps, names such as MON or JAN, day-of-month and day-of-week OR-ed when neither is a
star) or a comma-and-space separated list of such expressions and aliases. Aliases get a minute
(and hour) derived from the subject's database ID exactly as Incus does
(``getObfuscatedTimeValuesForSubject``), so instances do not all fire at once.

Time zones: every datetime is aware and the schedule is evaluated in its zone, like Incus uses
the daemon's ``time.Local``; pass the daemon's zone (``base.gotime.local_zone()``) as a ``ZoneInfo``.
DST follows robfig/cron: a time that does not exist (spring forward) is skipped that day, and a
time that happens twice (fall back) fires twice, once per UTC instant.

Two deliberate differences from Incus 6.0:

- Incus's ``snapshotIsScheduledNow`` asks whether the next firing is one minute from now, so it
  snapshots during the minute *before* the cron time. ``is_due(now)`` answers "does the schedule
  fire at this minute"; Incus's answer at ``now`` is ``is_due(now + 1 minute)``.
- Incus splits a list on every comma when it contains ", ", which breaks expressions that use
  commas themselves (``0,30 * * * *, @daily`` only fires at :30). Here a list is split on ", "
  exactly as it is validated.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

from pincus.base.errors import InvalidArgument
from pincus.base.gostr import GO_SPACES, go_quote
from pincus.base.gotime import add_date, add_exact, go_date

INSTANCE_ALIASES = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@annually", "@yearly",
                    "@startup", "@never")
VOLUME_ALIASES = INSTANCE_ALIASES[:-2]
FORM_ERROR = "Schedule must be of the form: <minute> <hour> <day-of-month> <month> <day-of-week>"

_ALIAS_SPECS = {
    "@hourly": "{m} * * * *",
    "@daily": "{m} {h} * * *",
    "@midnight": "{m} 0 * * *",
    "@weekly": "{m} {h} * * 0",
    "@monthly": "{m} {h} 1 * *",
    "@annually": "{m} {h} 1 1 *",
    "@yearly": "{m} {h} 1 1 *",
}
_STAR = 1 << 63
_INT = re.compile(r"[+-]?[0-9]+")
_INT64_MAX = 2**63 - 1
_MONTH_NAMES = {n: i + 1 for i, n in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_DOW_NAMES = {n: i for i, n in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}

# Entries 332, 333, 605 and 606 of Go's math/rand seeding table: the first two values drawn from
# rand.NewSource(seed) depend only on these.
_GO_RNG_COOKED = {332: 4287360518296753003, 333: -4633371852008891965,
                  605: 9103922860780351547, 606: 4152330101494654406}


@dataclass(frozen=True)
class _Bounds:
    low: int
    high: int
    names: dict[str, int] | None = None


_MINUTES = _Bounds(0, 59)
_HOURS = _Bounds(0, 23)
_DOM = _Bounds(1, 31)
_MONTHS = _Bounds(1, 12, _MONTH_NAMES)
_DOW = _Bounds(0, 6, _DOW_NAMES)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed 5-field cron expression as bit sets (bit 63 marks a ``*`` or ``?``)."""

    minute: int
    hour: int
    dom: int
    month: int
    dow: int

    def day_matches(self, dt: datetime) -> bool:
        """Whether the day of ``dt`` matches (robfig's dayMatches: AND if either field is a star)."""
        dom = bool(1 << dt.day & self.dom)
        dow = bool(1 << (dt.weekday() + 1) % 7 & self.dow)
        if self.dom & _STAR or self.dow & _STAR:
            return dom and dow
        return dom or dow


def _atoi(expr: str) -> int:
    if not _INT.fullmatch(expr):
        raise ValueError(f"failed to parse int from {expr}: strconv.Atoi: parsing {go_quote(expr)}: invalid syntax")
    value = int(expr)
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise ValueError(
            f"failed to parse int from {expr}: strconv.Atoi: parsing {go_quote(expr)}: value out of range"
        )
    if value < 0:
        raise ValueError(f"negative number ({value}) not allowed: {expr}")
    return value


def _int_or_name(expr: str, bounds: _Bounds) -> int:
    if bounds.names and expr.lower() in bounds.names:
        return bounds.names[expr.lower()]
    return _atoi(expr)


def _range_bits(expr: str, bounds: _Bounds) -> int:
    """robfig getRange: ``*``, ``?``, ``N``, ``N-M``, each with an optional ``/step``."""
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    extra = 0
    if low_high[0] in ("*", "?"):
        start, end, extra = bounds.low, bounds.high, _STAR
    else:
        start = _int_or_name(low_high[0], bounds)
        if len(low_high) > 2:
            raise ValueError(f"too many hyphens: {expr}")
        end = _int_or_name(low_high[1], bounds) if len(low_high) == 2 else start
    step = 1
    if len(range_and_step) == 2:
        step = _atoi(range_and_step[1])
        if len(low_high) == 1:
            end = bounds.high  # "N/step" means "N-max/step"
        if step > 1:
            extra = 0
    elif len(range_and_step) > 2:
        raise ValueError(f"too many slashes: {expr}")
    if start < bounds.low:
        raise ValueError(f"beginning of range ({start}) below minimum ({bounds.low}): {expr}")
    if end > bounds.high:
        raise ValueError(f"end of range ({end}) above maximum ({bounds.high}): {expr}")
    if start > end:
        raise ValueError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise ValueError(f"step of range should be a positive number: {expr}")
    return sum(1 << i for i in range(start, end + 1, step)) | extra


def _field_bits(field: str, bounds: _Bounds) -> int:
    bits = 0
    for expr in (part for part in field.split(",") if part):
        bits |= _range_bits(expr, bounds)
    return bits


def _go_fields(spec: str) -> list[str]:
    return "".join(" " if ch in GO_SPACES else ch for ch in spec).split()


def parse_cron(spec: str) -> CronSchedule:
    """Parse a 5-field expression like robfig/cron ParseStandard; ValueError carries its message."""
    if not spec:
        raise ValueError("empty spec string")
    if spec.startswith("@"):
        if spec.startswith("@every "):
            raise ValueError(f"failed to parse duration {spec}: time: invalid duration {go_quote(spec[7:])}")
        raise ValueError(f"unrecognized descriptor: {spec}")
    fields = _go_fields(spec)
    if len(fields) != 5:
        raise ValueError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    bits = [_field_bits(f, b) for f, b in zip(fields, (_MINUTES, _HOURS, _DOM, _MONTHS, _DOW), strict=True)]
    return CronSchedule(*bits)


def _triggers(spec: str) -> list[str]:
    return spec.lower().split(", ")


def validate_schedule(spec: str, aliases: tuple[str, ...] = INSTANCE_ALIASES) -> None:
    """Raise InvalidArgument unless ``spec`` is empty or a valid schedule (validate.IsCron)."""
    if not spec:
        return
    for trigger in _triggers(spec):
        if trigger in aliases:
            continue
        if len(trigger.split(" ")) != 5:
            raise InvalidArgument(FORM_ERROR)
        try:
            parse_cron(trigger)
        except ValueError as exc:
            raise InvalidArgument(f"Error parsing schedule: {exc}") from exc


def has_startup(spec: str) -> bool:
    """Whether the schedule asks for a snapshot each time the instance starts."""
    return bool(spec) and "@startup" in _triggers(spec)


def _go_first_draws(seed: int) -> tuple[int, int]:
    """The first two ``Int63()`` values of Go's ``rand.New(rand.NewSource(seed))``."""
    int32max = 2**31 - 1
    x = abs(seed) % int32max * (-1 if seed < 0 else 1)  # Go's % keeps the dividend's sign
    if x < 0:
        x += int32max
    if x == 0:
        x = 89482311
    vec: dict[int, int] = {}
    for i in range(-20, 607):
        x = x * 48271 % int32max  # Go's seedrand (Schrage's method), exactly
        if i >= 0:
            u = x << 40
            x = x * 48271 % int32max
            u ^= x << 20
            x = x * 48271 % int32max
            u ^= x
            if i in _GO_RNG_COOKED:
                vec[i] = (u ^ _GO_RNG_COOKED[i]) % 2**64
    mask = 2**63 - 1
    return (vec[333] + vec[606]) % 2**64 & mask, (vec[332] + vec[605]) % 2**64 & mask


def _stable_pick(subject_id: int, count: int) -> int:
    """Incus GetStableRandomInt64FromList over ``0..count-1``: Go's rand seeded with FNV-1a of the ID."""
    digest = 0xCBF29CE484222325
    for byte in str(subject_id).encode():
        digest = (digest ^ byte) * 0x100000001B3 % 2**64
    seed = digest - 2**64 if digest >= 2**63 else digest
    first, second = _go_first_draws(seed)
    limit = 2**63 - 1 - 2**63 % count
    # Int63n draws again above ``limit``; a third draw has a chance of about 1e-36.
    return (first if first <= limit else second) % count


@functools.lru_cache(maxsize=4096)
def obfuscated_minute_hour(subject_id: int) -> tuple[int, int]:
    """The stable minute and hour Incus gives aliases of the instance (or volume) ``subject_id``."""
    return _stable_pick(subject_id, 60), _stable_pick(subject_id, 24)


def cron_specs(spec: str, subject_id: int) -> list[str]:
    """The cron expressions a schedule stands for, aliases expanded (``@startup``/``@never`` dropped)."""
    if not spec:
        return []
    specs = []
    for trigger in _triggers(spec):
        template = _ALIAS_SPECS.get(trigger)
        if template is not None:
            minute, hour = obfuscated_minute_hour(subject_id)
            specs.append(template.format(m=minute, h=hour))
        elif trigger not in ("@startup", "@never"):
            specs.append(trigger)
    return specs


def _truncate(dt: datetime, unit: timedelta) -> datetime:
    """Go's Time.Truncate: on the absolute time, so an hour of a +05:30 zone is not cut to :00."""
    utc = dt.astimezone(timezone.utc)
    floor = utc - (utc - datetime(1, 1, 1, tzinfo=timezone.utc)) % unit
    return floor.astimezone(dt.tzinfo)


def _forward(old: datetime, new: datetime) -> datetime:
    """``new``, or one exact day after ``old`` when the calendar step did not move forward: where a
    whole day is missing (Pacific/Apia, 2011-12-30) Go's AddDate lands on the same instant again
    and robfig/cron loops forever."""
    if new.astimezone(timezone.utc) > old.astimezone(timezone.utc):
        return new
    return add_exact(old, timedelta(days=1))


def _move_to_month(s: CronSchedule, t: datetime, added: bool) -> tuple[datetime, bool, bool]:
    """robfig's month loop; returns (t, added, wrapped into a new year)."""
    while not 1 << t.month & s.month:
        if not added:
            added = True
            t = go_date(t.year, t.month, 1, 0, 0, 0, 0, _zone_of(t))
        t = _forward(t, add_date(t, 0, 1, 0))
        if t.month == 1:
            return t, added, True
    return t, added, False


def _move_to_day(s: CronSchedule, t: datetime, added: bool) -> tuple[datetime, bool, bool]:
    """robfig's day loop; returns (t, added, wrapped into a new month)."""
    while not s.day_matches(t):
        if not added:
            added = True
            t = go_date(t.year, t.month, t.day, 0, 0, 0, 0, _zone_of(t))
        t = _forward(t, add_date(t, 0, 0, 1))
        # Where midnight does not exist the day starts at 01:00 (or 23:00 the day before).
        if t.hour != 0:
            t = add_exact(t, timedelta(hours=24 - t.hour if t.hour > 12 else -t.hour))
        if t.day == 1:
            return t, added, True
    return t, added, False


def _move_to_time(s: CronSchedule, t: datetime, added: bool) -> tuple[datetime, bool, bool]:
    """robfig's hour, minute and second loops; returns (t, added, wrapped into a new day/hour/minute)."""
    steps = (("hour", timedelta(hours=1), s.hour), ("minute", timedelta(minutes=1), s.minute),
             ("second", timedelta(seconds=1), 1))
    for part, unit, bits in steps:
        while not 1 << getattr(t, part) & bits:
            if not added:
                added = True
                if part == "hour":
                    t = go_date(t.year, t.month, t.day, t.hour, 0, 0, 0, _zone_of(t))
                else:
                    t = _truncate(t, unit)
            t = add_exact(t, unit)
            if getattr(t, part) == 0:
                return t, added, True
    return t, added, False


def _next(s: CronSchedule, t: datetime) -> datetime | None:
    """robfig/cron SpecSchedule.Next: the first firing strictly after ``t``, None within 5 years."""
    t = add_exact(t, timedelta(seconds=1, microseconds=-t.microsecond))
    added = False
    year_limit = t.year + 5
    while t.year <= year_limit:
        t, added, wrapped = _move_to_month(s, t, added)
        if wrapped:
            continue
        t, added, wrapped = _move_to_day(s, t, added)
        if wrapped:
            continue
        t, added, wrapped = _move_to_time(s, t, added)
        if not wrapped:
            return t
    return None


def _zone_of(dt: datetime) -> tzinfo:
    if dt.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return dt.tzinfo


@functools.lru_cache(maxsize=4096)
def _schedules(spec: str, subject_id: int) -> tuple[CronSchedule, ...]:
    """Parsed once per (spec, subject): the timer asks again every time an instance fires."""
    validate_schedule(spec)
    return tuple(parse_cron(cron) for cron in cron_specs(spec, subject_id))


def next_fire(spec: str, subject_id: int, after: datetime) -> datetime | None:
    """The first minute strictly after ``after`` at which the schedule fires, in ``after``'s zone;
    None if it never does (empty, only ``@startup``/``@never``, or no date within 5 years)."""
    _zone_of(after)
    times = [t for t in (_next(s, after) for s in _schedules(spec, subject_id)) if t is not None]
    # Compare instants: Python compares datetimes of one zone by wall clock, ignoring DST folds.
    return min(times, key=lambda t: t.astimezone(timezone.utc), default=None)


def is_due(spec: str, subject_id: int, now: datetime) -> bool:
    """Whether the schedule fires at the minute of ``now`` (seconds are ignored)."""
    _zone_of(now)
    minute = _truncate(now, timedelta(minutes=1))
    before = add_exact(minute, timedelta(minutes=-1))
    for schedule in _schedules(spec, subject_id):
        fire = _next(schedule, before)
        if fire is not None and fire.astimezone(timezone.utc) == minute.astimezone(timezone.utc):
            return True
    return False
