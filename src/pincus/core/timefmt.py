"""Timestamps as Incus prints and parses them (one implementation: core/expiry.py)."""

from __future__ import annotations

from datetime import datetime, timezone

from pincus.core.expiry import ZERO_TIME, format_time
from pincus.core.expiry import parse_optional_time as parse_time
from pincus.core.schedule import local_zone

__all__ = ["ZERO_TIME", "format_time", "parse_time", "now_utc", "local_now"]


def now_utc() -> datetime:
    """The current time, aware, UTC."""
    return datetime.now(timezone.utc)


def local_now(now: datetime) -> datetime:
    """``now`` in the daemon's zone (patterns and expiry use local wall time, as Incus)."""
    return now.astimezone(local_zone())
