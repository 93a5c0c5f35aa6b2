"""Snapshot expiry expressions (``snapshots.expiry``); the Go time arithmetic is in base/gotime.py.

Grammar (Incus ``internal/instance/expiry.go``): after trimming, terms ``<digits><unit>`` separated by
single spaces; units are case-sensitive: S seconds, M minutes, H hours, d days, w weeks, m months,
y years. A unit may appear twice only while its earlier value is 0. ``""`` means "never".
The date is ``ref.AddDate(y, m, d + 7*w)`` (calendar arithmetic on the wall clock, Go's overflow
normalisation: Jan 31 + 1m = Mar 3, or Mar 2 in a leap year) followed by adding H, M and S as an
exact duration.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from pincus.base.errors import InvalidArgument
from pincus.base.gostr import GO_SPACES, go_quote
from pincus.base.gotime import add_date, add_exact, require_aware

INVALID_EXPIRY = "Invalid expiry expression"

_TERM = re.compile(r"([0-9]+)([SMHdwmy])")
_INT64_MAX = 2**63 - 1
_TRIM = "".join(sorted(GO_SPACES))


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
    require_aware(ref)
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
