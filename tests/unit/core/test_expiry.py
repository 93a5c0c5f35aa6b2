"""Expiry expressions and Incus timestamps; expected dates were checked against Go's time package."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from pincus.base import gotime
from pincus.base.errors import InvalidArgument
from pincus.core import expiry

UTC = timezone.utc
ROME = ZoneInfo("Europe/Rome")
REF = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ref", "spec", "expected"),
    [
        (REF, "1S", "2026-01-31T10:00:01Z"),
        (REF, "1M", "2026-01-31T10:01:00Z"),  # M is minutes
        (REF, "90M", "2026-01-31T11:30:00Z"),
        (REF, "1H", "2026-01-31T11:00:00Z"),
        (REF, "1d", "2026-02-01T10:00:00Z"),
        (REF, "1w", "2026-02-07T10:00:00Z"),
        (REF, "2w 3d", "2026-02-17T10:00:00Z"),
        (REF, "1m", "2026-03-03T10:00:00Z"),  # m is months: Feb 31 overflows to Mar 3
        (datetime(2024, 1, 31, 10, tzinfo=UTC), "1m", "2024-03-02T10:00:00Z"),  # leap year
        (datetime(2026, 3, 31, 10, tzinfo=UTC), "1m", "2026-05-01T10:00:00Z"),
        (REF, "13m", "2027-03-03T10:00:00Z"),
        (REF, "1m 31d", "2026-04-03T10:00:00Z"),  # months first, then days
        (datetime(2024, 2, 29, 10, tzinfo=UTC), "1y", "2025-03-01T10:00:00Z"),
        (datetime(2024, 2, 29, 10, tzinfo=UTC), "4y", "2028-02-29T10:00:00Z"),
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), "1S", "2027-01-01T00:00:00Z"),
        (REF, "1y 1m 1d 1H 1M 1S", "2027-03-04T11:01:01Z"),
        (REF, "1S 1M 1H 1d 1m 1y", "2027-03-04T11:01:01Z"),  # order does not matter
        (REF, "0d 0d", "2026-01-31T10:00:00Z"),  # a unit may repeat while it is 0
        (REF, "0d 1d", "2026-02-01T10:00:00Z"),
        (REF, "007d", "2026-02-07T10:00:00Z"),
        (REF, " 1d ", "2026-02-01T10:00:00Z"),  # trimmed
        (REF, "\t1d\n", "2026-02-01T10:00:00Z"),
        # Go's Duration overflows here (it gives 1783-10-08); pincus computes the real date.
        (REF, "3000000H", "2368-04-28T10:00:00Z"),
        (datetime(2026, 1, 31, 10, 0, 0, 123456, tzinfo=UTC), "1d", "2026-02-01T10:00:00.123456Z"),
    ],
)
def test_parse_expiry(ref: datetime, spec: str, expected: str) -> None:
    assert gotime.format_time(expiry.parse_expiry(spec, ref)) == expected


@pytest.mark.parametrize(
    ("ref", "spec", "expected"),
    [
        # Spring forward in Rome, 2026-03-29 02:00 -> 03:00: calendar days keep the wall clock,
        # hours are exact; a wall time in the gap moves forward like Go's time.Date.
        (datetime(2026, 3, 28, 12, 0, tzinfo=ROME), "1d", "2026-03-29T12:00:00+02:00"),
        (datetime(2026, 3, 28, 12, 0, tzinfo=ROME), "24H", "2026-03-29T13:00:00+02:00"),
        (datetime(2026, 3, 28, 2, 30, tzinfo=ROME), "1d", "2026-03-29T03:30:00+02:00"),
        (datetime(2026, 3, 29, 1, 30, tzinfo=ROME), "1H", "2026-03-29T03:30:00+02:00"),
        (datetime(2026, 2, 28, 2, 30, tzinfo=ROME), "1m", "2026-03-28T02:30:00+01:00"),
        # Fall back, 2026-10-25 03:00 -> 02:00: a repeated wall time takes the later instant.
        (datetime(2026, 10, 24, 2, 30, tzinfo=ROME), "1d", "2026-10-25T02:30:00+01:00"),
        (datetime(2026, 10, 24, 12, 0, tzinfo=ROME), "24H", "2026-10-25T11:00:00+01:00"),
    ],
)
def test_parse_expiry_across_dst(ref: datetime, spec: str, expected: str) -> None:
    result = expiry.parse_expiry(spec, ref)
    assert result is not None
    assert gotime.format_time(result) == expected
    assert result.tzinfo is ROME


@pytest.mark.parametrize("spec", ["", " ", "\t \n"])
def test_empty_expiry_is_never(spec: str) -> None:
    assert expiry.parse_expiry(spec, REF) is None
    expiry.validate_expiry(spec)


@pytest.mark.parametrize(
    "spec",
    [
        "1D", "1h", "1s", "1Y", "1W",  # units are case-sensitive
        "1d  1H",  # a double space makes an empty term
        "1d,1H", "1d1H", "1d\t1H", "1", "d", "-1d", "+1d", "1.5d", "1 d", "abc", "\u0663d",
        "1d 0d", "1d 1d", "1m 2m", "7S 7S",  # a non-zero unit may not repeat
    ],
)
def test_invalid_expiry(spec: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        expiry.parse_expiry(spec, REF)
    assert str(err.value) == "Invalid expiry expression"
    with pytest.raises(InvalidArgument):
        expiry.validate_expiry(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("99999999999999999999d", 'strconv.Atoi: parsing "99999999999999999999": value out of range'),
        ("10000y", 'Invalid expiry expression: "10000y" is out of range'),
    ],
)
def test_expiry_out_of_range(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        expiry.parse_expiry(spec, REF)
    assert str(err.value) == message


def test_expiry_needs_aware_reference() -> None:
    with pytest.raises(ValueError):
        expiry.parse_expiry("1d", datetime(2026, 1, 1))
