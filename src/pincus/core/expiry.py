"""Snapshot expiry expressions (``snapshots.expiry``) and Incus timestamps, with Go's time arithmetic.

Grammar (Incus ``internal/instance/expiry.go``): after trimming, terms ``<digits><unit>`` separated by
single spaces; units are case-sensitive: S seconds, M minutes, H hours, d days, w weeks, m months,
y years. A unit may appear twice only while its earlier value is 0. ``""`` means "never".
The date is ``ref.AddDate(y, m, d + 7*w)`` (calendar arithmetic on the wall clock, Go's overflow
normalisation: Jan 31 + 1m = Mar 3, or Mar 2 in a leap year) followed by adding H, M and S as an
exact duration.

All datetimes are aware; arithmetic happens in the zone of the reference datetime, as Go does in
``time.Local``. Use a ``zoneinfo.ZoneInfo`` (not a fixed offset) to get DST right. Python keeps
microseconds, so the nanoseconds Go can carry are truncated.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta, timezone, tzinfo

from pincus.base.errors import InvalidArgument
from pincus.core.names import GO_SPACES, go_quote

ZERO_TIME = "0001-01-01T00:00:00Z"
ZERO_DATETIME = datetime(1, 1, 1, tzinfo=timezone.utc)
INVALID_EXPIRY = "Invalid expiry expression"

_TERM = re.compile(r"([0-9]+)([SMHdwmy])")
_INT64_MAX = 2**63 - 1
_TRIM = "".join(sorted(GO_SPACES))
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})"
)


def _require_aware(dt: datetime) -> tzinfo:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("an aware datetime is required")
    return dt.tzinfo


def offset_at(instant: datetime, tz: tzinfo) -> timedelta:
    """The UTC offset of ``tz`` at an absolute instant."""
    offset = instant.astimezone(tz).utcoffset()
    return offset if offset is not None else timedelta(0)


def go_date(
    year: int, month: int, day: int, hour: int, minute: int, second: int, microsecond: int, tz: tzinfo
) -> datetime:
    """Go's ``time.Date``: out-of-range fields carry over; a wall time in a DST gap or overlap
    resolves like Go (gap: the offset before the change, so 02:30 becomes 03:30; overlap: the
    offset in force after the change, the later of the two instants)."""
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
    tz = _require_aware(dt)
    return go_date(
        dt.year + years, dt.month + months, dt.day + days,
        dt.hour, dt.minute, dt.second, dt.microsecond, tz,
    )


def add_exact(dt: datetime, delta: timedelta) -> datetime:
    """Go's ``Time.Add``: an exact duration (Python's aware ``+`` adds wall-clock time instead)."""
    tz = _require_aware(dt)
    return (dt.astimezone(timezone.utc) + delta).astimezone(tz)


def _parse_terms(spec: str) -> dict[str, int]:
    units = dict.fromkeys("SMHdwmy", 0)
    for value in spec.split(" "):
        match = _TERM.fullmatch(value)
        if match is None:
            raise InvalidArgument(INVALID_EXPIRY)
        digits, unit = match.groups()
        if units[unit] > 0:
            raise InvalidArgument(INVALID_EXPIRY)
        number = int(digits)
        if number > _INT64_MAX:
            raise InvalidArgument(f'strconv.Atoi: parsing "{digits}": value out of range')
        units[unit] = number
    return units


def parse_expiry(spec: str, ref: datetime) -> datetime | None:
    """The expiry date of ``spec`` counted from ``ref``; None when ``spec`` is empty (never)."""
    _require_aware(ref)
    text = spec.strip(_TRIM)
    if not text:
        return None
    units = _parse_terms(text)
    delta_seconds = units["H"] * 3600 + units["M"] * 60 + units["S"]
    try:
        dated = add_date(ref, units["y"], units["m"], units["d"] + 7 * units["w"])
        return add_exact(dated, timedelta(seconds=delta_seconds))
    except OverflowError as exc:
        raise InvalidArgument(f"{INVALID_EXPIRY}: {go_quote(text)} is out of range") from exc


def validate_expiry(spec: str) -> None:
    """Raise InvalidArgument unless ``spec`` is a valid ``snapshots.expiry`` expression."""
    parse_expiry(spec, datetime(2000, 1, 1, tzinfo=timezone.utc))


def is_zero_time(dt: datetime | None) -> bool:
    """Whether ``dt`` is missing or Go's zero time (``0001-01-01T00:00:00Z``, "never")."""
    return dt is None or dt == ZERO_DATETIME


def format_time(dt: datetime | None) -> str:
    """An aware datetime as Go's RFC3339Nano (fraction without trailing zeros); None is the zero time."""
    if dt is None:
        return ZERO_TIME
    _require_aware(dt)
    text = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    if dt.microsecond:
        text += "." + f"{dt.microsecond:06d}".rstrip("0")
    total = int((dt.utcoffset() or timedelta(0)).total_seconds())
    if total == 0:
        return text + "Z"
    minutes = abs(total) // 60  # Go truncates the offset towards zero, to whole minutes
    sign = "-" if total < 0 and minutes else "+"
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_time(value: str) -> datetime:
    """An RFC3339 timestamp (as Go's JSON decoder accepts it) to an aware datetime."""
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise InvalidArgument(f'parsing time {go_quote(value)} as "2006-01-02T15:04:05Z07:00": bad format')
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    frac, zone = match.group(7), match.group(8)
    month_days = _MONTH_DAYS[month - 1] + (month == 2 and calendar.isleap(year)) if 1 <= month <= 12 else 31
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
