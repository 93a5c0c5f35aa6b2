"""Snapshot expiry: the ``<int><unit>`` span grammar, the CLI date layout, RFC 3339 output."""

from __future__ import annotations

import time

from pincus.cli.format import days_from_civil

UNITS = "SMHdwmy"


class InvalidExpiry(ValueError):
    """``Invalid expiry expression`` (instance.ErrInvalidExpiry)."""

    def __init__(self) -> None:
        super().__init__("Invalid expiry expression")


def parse_span(expr: str) -> dict[str, int]:
    """Parse ``1d 3H`` into unit counts; terms are separated by single spaces, units case-sensitive."""
    counts = dict.fromkeys(UNITS, 0)
    for term in expr.strip().split(" "):
        digits, unit = term[:-1], term[-1:]
        if not digits.isdigit() or not digits.isascii() or unit not in UNITS:
            raise InvalidExpiry()
        if counts[unit] > 0:
            raise InvalidExpiry()
        counts[unit] = int(digits)
    return counts


def _civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719468
    era = (days if days >= 0 else days - 146096) // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def add_span(now_ns: int, counts: dict[str, int], utc_offset: int = 0) -> int:
    """Go's ``t.AddDate(y, m, d+7w).Add(H, M, S)`` on a wall clock ``utc_offset`` seconds from UTC."""
    local_ns = now_ns + utc_offset * 1_000_000_000
    days, rem_ns = divmod(local_ns, 86_400 * 1_000_000_000)
    year, month, day = _civil_from_days(days)
    month_index = (month - 1) + counts["m"]
    year += counts["y"] + month_index // 12
    month = month_index % 12 + 1
    days = days_from_civil(year, month, 1) + (day - 1) + counts["d"] + 7 * counts["w"]
    seconds = counts["H"] * 3600 + counts["M"] * 60 + counts["S"]
    return (days * 86_400 * 1_000_000_000 + rem_ns) - utc_offset * 1_000_000_000 + seconds * 1_000_000_000


def rfc3339_ns(epoch_ns: int) -> str:
    """UTC RFC 3339 with Go's trimmed nanoseconds."""
    secs, nanos = divmod(epoch_ns, 1_000_000_000)
    days, rem = divmod(secs, 86400)
    year, month, day = _civil_from_days(days)
    frac = f".{nanos:09d}".rstrip("0") if nanos else ""
    return f"{year:04d}-{month:02d}-{day:02d}T{rem // 3600:02d}:{rem % 3600 // 60:02d}:{rem % 60:02d}{frac}Z"


def parse_cli_date(text: str) -> int:
    """Parse ``2006/01/02 15:04 MST`` (Go time.Parse with the client's date layout) into epoch ns."""
    layout = "2006/01/02 15:04 MST"
    try:
        date, clock, zone = text.split(" ")
        year, month, day = (int(x) for x in date.split("/"))
        hour, minute = (int(x) for x in clock.split(":"))
        if len(date) != 10 or len(clock) != 5 or not zone:
            raise ValueError
    except ValueError:
        raise ValueError(f'parsing time "{text}" as "{layout}": cannot parse "{text}" as "2006"') from None
    offset = 0
    local = time.localtime()
    if zone in (local.tm_zone, time.tzname[0], time.tzname[1]) and zone != "UTC":
        offset = local.tm_gmtoff
    epoch = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 - offset
    return epoch * 1_000_000_000


def expiry_from_flag(value: str, now_ns: int | None = None) -> str:
    """``--expiry``: a span (``1d``) or a date (``2006/01/02 15:04 MST``) as RFC 3339."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    try:
        counts = parse_span(value)
    except InvalidExpiry:
        return rfc3339_ns(parse_cli_date(value))
    return rfc3339_ns(add_span(now_ns, counts, time.localtime(now_ns // 1_000_000_000).tm_gmtoff))


def yaml_time(value: object) -> str:
    """An ``expires_at`` read from YAML (a string or a datetime) as RFC 3339; "" when zero/absent."""
    if value is None or value == "":
        return ""
    if hasattr(value, "isoformat"):
        import datetime

        if isinstance(value, datetime.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=datetime.timezone.utc)
            value = value.astimezone(datetime.timezone.utc)
            text = value.strftime("%Y-%m-%dT%H:%M:%S")
            frac = f".{value.microsecond:06d}".rstrip("0") if value.microsecond else ""
            result = f"{text}{frac}Z"
        else:
            result = f"{value.isoformat()}T00:00:00Z"
    else:
        result = str(value)
    return "" if result.startswith("0001-01-01T00:00:00") else result
