"""Timestamps as Incus prints them (Go's RFC3339Nano) and the zero time that means "never"."""

from __future__ import annotations

from datetime import datetime, timezone

ZERO_TIME = "0001-01-01T00:00:00Z"


def format_time(dt: datetime | None) -> str:
    """An aware datetime as Go's RFC3339Nano (trailing zeros of the fraction dropped); None -> zero time."""
    if dt is None:
        return ZERO_TIME
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{dt.microsecond:06d}".rstrip("0")
    offset = dt.strftime("%z")
    tz = "Z" if offset in ("+0000", "") else f"{offset[:3]}:{offset[3:]}"
    return f"{base}.{frac}{tz}" if frac else f"{base}{tz}"


def parse_time(value: str | None) -> datetime | None:
    """An RFC3339 timestamp (any fraction length) to an aware datetime; zero time or empty -> None."""
    if not value or value.startswith("0001-01-01T00:00:00"):
        return None
    text = value.strip().replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if "." in text:
        head, rest = text.split(".", 1)
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            digits += rest[i]
            i += 1
        text = f"{head}.{(digits + '000000')[:6]}{rest[i:]}"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt


def now_utc() -> datetime:
    """The current time, aware, UTC."""
    return datetime.now(timezone.utc)
