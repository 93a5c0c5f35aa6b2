"""Go's time as Incus shows it: RFC3339Nano timestamps, the zero time, time.Date arithmetic, time.Local.

All datetimes are aware; arithmetic happens in the zone of the reference datetime, as Go does in
``time.Local``. Use a ``zoneinfo.ZoneInfo`` (not a fixed offset) to get DST right. Python keeps
microseconds, so the nanoseconds Go can carry are truncated.

The CLI and the client import this module for ZERO_TIME at start-up, so importing it must cost
nothing: ``datetime``, ``re``, ``zoneinfo`` and the error classes are imported inside the functions
that need them (a repeated import is a dictionary lookup).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime, timedelta, tzinfo
    from re import Pattern

# Go's zero time.Time, which Incus sends for "never" (expires_at, last_used_at).
ZERO_TIME = "0001-01-01T00:00:00Z"

_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_RFC3339_TEXT = (
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_cache: dict[str, object] = {}


def __getattr__(name: str) -> object:
    # ZERO_DATETIME is built on first use, so that importing this module does not import datetime.
    if name == "ZERO_DATETIME":
        return _zero_datetime()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _zero_datetime() -> datetime:
    zero = _cache.get("zero")
    if zero is None:
        from datetime import datetime, timezone

        zero = _cache["zero"] = datetime(1, 1, 1, tzinfo=timezone.utc)
    return zero  # type: ignore[return-value]


def _rfc3339() -> Pattern[str]:
    pattern = _cache.get("rfc3339")
    if pattern is None:
        import re

        pattern = _cache["rfc3339"] = re.compile(_RFC3339_TEXT)
    return pattern  # type: ignore[return-value]


def _is_leap(year: int) -> bool:
    # calendar.isleap, without importing calendar (locale, enum) into the CLI
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def require_aware(dt: datetime) -> tzinfo:
    """The zone of ``dt``; ValueError if ``dt`` is naive."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("an aware datetime is required")
    return dt.tzinfo


def offset_at(instant: datetime, tz: tzinfo) -> timedelta:
    """The UTC offset of ``tz`` at an absolute instant."""
    from datetime import timedelta

    offset = instant.astimezone(tz).utcoffset()
    return offset if offset is not None else timedelta(0)


def go_date(
    year: int, month: int, day: int, hour: int, minute: int, second: int, microsecond: int, tz: tzinfo
) -> datetime:
    """Go's ``time.Date``: out-of-range fields carry over; a wall time in a DST gap or overlap
    resolves like Go (gap: the offset before the change, so 02:30 becomes 03:30; overlap: the
    offset in force after the change, the later of the two instants)."""
    from datetime import datetime, timedelta, timezone

    years, month0 = divmod(year * 12 + month - 1, 12)
    try:
        wall = datetime(years, month0 + 1, 1) + timedelta(
            days=day - 1, hours=hour, minutes=minute, seconds=second, microseconds=microsecond
        )
    except (OverflowError, ValueError) as exc:
        raise OverflowError("date out of range") from exc
    as_utc = wall.replace(tzinfo=timezone.utc)
    guess = offset_at(as_utc, tz)
    instant = as_utc - offset_at(as_utc - guess, tz)
    return instant.astimezone(tz)


def add_date(dt: datetime, years: int, months: int, days: int) -> datetime:
    """Go's ``Time.AddDate``: calendar arithmetic on the wall clock with Go's normalisation."""
    tz = require_aware(dt)
    return go_date(
        dt.year + years, dt.month + months, dt.day + days,
        dt.hour, dt.minute, dt.second, dt.microsecond, tz,
    )


def add_exact(dt: datetime, delta: timedelta) -> datetime:
    """Go's ``Time.Add``: an exact duration (Python's aware ``+`` adds wall-clock time instead)."""
    from datetime import timezone

    tz = require_aware(dt)
    return (dt.astimezone(timezone.utc) + delta).astimezone(tz)


def is_zero_time(dt: datetime | None) -> bool:
    """Whether ``dt`` is missing or Go's zero time (``0001-01-01T00:00:00Z``, "never")."""
    return dt is None or dt == _zero_datetime()


def format_time(dt: datetime | None) -> str:
    """An aware datetime as Go's RFC3339Nano (fraction without trailing zeros); None is the zero time."""
    if dt is None:
        return ZERO_TIME
    require_aware(dt)
    text = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    if dt.microsecond:
        text += "." + f"{dt.microsecond:06d}".rstrip("0")
    offset = dt.utcoffset()
    total = int(offset.total_seconds()) if offset else 0
    if total == 0:
        return text + "Z"
    minutes = abs(total) // 60  # Go truncates the offset towards zero, to whole minutes
    sign = "-" if total < 0 and minutes else "+"
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_time(value: str) -> datetime:
    """An RFC3339 timestamp (as Go's JSON decoder accepts it) to an aware datetime."""
    from datetime import datetime, timedelta, timezone

    from pincus.base.errors import InvalidArgument
    from pincus.base.gostr import go_quote

    match = _rfc3339().fullmatch(value)
    if match is None:
        raise InvalidArgument(f'parsing time {go_quote(value)} as "2006-01-02T15:04:05Z07:00": bad format')
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    frac, zone = match.group(7), match.group(8)
    month_days = _MONTH_DAYS[month - 1] + (month == 2 and _is_leap(year)) if 1 <= month <= 12 else 31
    limits = (("year", year, 1, 9999), ("month", month, 1, 12), ("day", day, 1, month_days),
              ("hour", hour, 0, 23), ("minute", minute, 0, 59), ("second", second, 0, 59))
    for field, number, low, high in limits:
        if not low <= number <= high:
            raise InvalidArgument(f"parsing time {go_quote(value)}: {field} out of range")
    tz: tzinfo = timezone.utc
    if zone != "Z":
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            raise InvalidArgument(f"parsing time {go_quote(value)}: time zone offset out of range")
        offset = timedelta(hours=hours, minutes=minutes) * (-1 if zone[0] == "-" else 1)
        tz = timezone(offset) if offset else timezone.utc
    micro = int((frac or "")[:6].ljust(6, "0"))
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)


def parse_optional_time(value: str | None) -> datetime | None:
    """Like parse_time, but empty, None or the zero time give None ("never")."""
    if not value:
        return None
    dt = parse_time(value)
    return None if is_zero_time(dt) else dt


def go_time(when: datetime | None) -> str:
    """Format a time the way Go's encoding/json does; a naive datetime is taken as UTC."""
    from datetime import timezone

    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return format_time(when)


def now_utc() -> datetime:
    """The current time, aware, UTC."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def local_zone() -> tzinfo:
    """The daemon's zone as Go's time.Local finds it: $TZ (empty = UTC), else /etc/localtime."""
    import os
    from datetime import timezone
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = os.environ.get("TZ")
    try:
        if name is None:
            with open("/etc/localtime", "rb") as fh:
                return ZoneInfo.from_file(fh, key="localtime")
        name = name.removeprefix(":")
        if not name:
            return timezone.utc
        if name.startswith("/"):
            with open(name, "rb") as fh:
                return ZoneInfo.from_file(fh, key=name)
        return ZoneInfo(name)
    except (OSError, ValueError, ZoneInfoNotFoundError):
        return timezone.utc


def local_now(now: datetime) -> datetime:
    """``now`` in the daemon's zone (patterns and expiry use local wall time, as Incus)."""
    return now.astimezone(local_zone())
