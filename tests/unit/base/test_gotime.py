"""Go's time formats and arithmetic; expected values were checked against Go's time package."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from pincus.base import gotime
from pincus.base.errors import InvalidArgument
from pincus.base.gotime import ZERO_TIME, format_time, parse_optional_time

UTC = timezone.utc
ROME = ZoneInfo("Europe/Rome")
REF = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("dt", "text"),
    [
        (datetime(2026, 11, 26, 6, 7, 37, 93598, tzinfo=timezone.utc), "2026-11-26T06:07:37.093598Z"),
        (datetime(2026, 11, 26, 6, 7, 37, 500000, tzinfo=timezone.utc), "2026-11-26T06:07:37.5Z"),
        (datetime(2026, 11, 26, 6, 7, 37, tzinfo=timezone.utc), "2026-11-26T06:07:37Z"),
        (datetime(2026, 11, 26, 8, 0, tzinfo=timezone(timedelta(hours=2))), "2026-11-26T08:00:00+02:00"),
        (None, ZERO_TIME),
    ],
)
def test_format_like_go_rfc3339nano(dt, text):
    assert format_time(dt) == text


@pytest.mark.parametrize(
    ("text", "dt"),
    [
        ("2026-11-26T06:08:21.029797525Z", datetime(2026, 11, 26, 6, 8, 21, 29797, tzinfo=timezone.utc)),
        ("2025-06-30T01:00:00Z", datetime(2025, 6, 30, 1, 0, tzinfo=timezone.utc)),
        ("2025-06-30T03:00:00+02:00", datetime(2025, 6, 30, 1, 0, tzinfo=timezone.utc)),
        (ZERO_TIME, None),
        ("", None),
    ],
)
def test_parse_any_fraction(text, dt):
    assert parse_optional_time(text) == dt


def test_parse_rejects_garbage():
    with pytest.raises(InvalidArgument):
        parse_optional_time("tomorrow")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((2026, 13, 1, 0, 0, 0, 0), "2027-01-01T00:00:00Z"),
        ((2026, 0, 1, 0, 0, 0, 0), "2025-12-01T00:00:00Z"),
        ((2026, 3, 0, 0, 0, 0, 0), "2026-02-28T00:00:00Z"),
        ((2026, 1, 1, 24, 60, 60, 0), "2026-01-02T01:01:00Z"),
        ((2026, 1, 1, -1, 0, 0, 0), "2025-12-31T23:00:00Z"),
        ((2026, -11, 31, 0, 0, 0, 0), "2025-01-31T00:00:00Z"),
    ],
)
def test_go_date_normalises_like_go(args: tuple[int, int, int, int, int, int, int], expected: str) -> None:
    assert gotime.format_time(gotime.go_date(*args, UTC)) == expected


@pytest.mark.parametrize(
    ("start", "delta", "expected"),
    [
        ((2026, 1, 31), (0, 1, 0), "2026-03-03T00:00:00Z"),
        ((2024, 1, 31), (0, 1, 0), "2024-03-02T00:00:00Z"),
        ((2026, 3, 31), (0, -1, 0), "2026-03-03T00:00:00Z"),
        ((2024, 2, 29), (1, 0, 0), "2025-03-01T00:00:00Z"),
        ((2026, 1, 1), (0, 0, -1), "2025-12-31T00:00:00Z"),
    ],
)
def test_add_date(start: tuple[int, int, int], delta: tuple[int, int, int], expected: str) -> None:
    result = gotime.add_date(datetime(*start, tzinfo=UTC), *delta)
    assert gotime.format_time(result) == expected


def test_add_exact_is_absolute_time() -> None:
    before = datetime(2026, 3, 29, 1, 30, tzinfo=ROME)
    assert gotime.format_time(gotime.add_exact(before, timedelta(hours=1))) == "2026-03-29T03:30:00+02:00"
    # Python's own aware "+" would say 02:30, a time that does not exist in Rome that day.
    assert (before + timedelta(hours=1)).hour == 2


@pytest.mark.parametrize(
    ("dt", "text"),
    [
        (None, "0001-01-01T00:00:00Z"),
        (gotime.ZERO_DATETIME, "0001-01-01T00:00:00Z"),
        (datetime(2026, 11, 26, 7, 14, 19, 123456, tzinfo=UTC), "2026-11-26T07:14:19.123456Z"),
        (datetime(2026, 11, 26, 7, 14, 19, 120000, tzinfo=UTC), "2026-11-26T07:14:19.12Z"),
        (datetime(2026, 11, 26, 7, 14, 19, 1, tzinfo=UTC), "2026-11-26T07:14:19.000001Z"),
        (datetime(2026, 11, 26, 7, 14, 19, tzinfo=UTC), "2026-11-26T07:14:19Z"),
        (datetime(2026, 7, 1, 9, 0, tzinfo=ROME), "2026-07-01T09:00:00+02:00"),
        (datetime(2026, 1, 1, 9, 0, tzinfo=ZoneInfo("Europe/London")), "2026-01-01T09:00:00Z"),
        (datetime(2026, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=-5, minutes=-30))), "2026-01-01T09:00:00-05:30"),
        (datetime(2026, 1, 1, 9, 0, tzinfo=ZoneInfo("Asia/Kolkata")), "2026-01-01T09:00:00+05:30"),
        (datetime(999, 1, 1, tzinfo=UTC), "0999-01-01T00:00:00Z"),
    ],
)
def test_format_time(dt: datetime | None, text: str) -> None:
    assert gotime.format_time(dt) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T07:14:19.123456789Z", datetime(2026, 11, 26, 7, 14, 19, 123456, tzinfo=UTC)),
        ("2026-11-26T07:14:19Z", datetime(2026, 11, 26, 7, 14, 19, tzinfo=UTC)),
        ("2026-11-26T07:14:19.1+02:00", datetime(2026, 11, 26, 5, 14, 19, 100000, tzinfo=UTC)),
        ("2026-11-26T07:14:19-05:30", datetime(2026, 11, 26, 12, 44, 19, tzinfo=UTC)),
        ("2026-11-26T07:14:19+00:00", datetime(2026, 11, 26, 7, 14, 19, tzinfo=UTC)),
        ("2024-02-29T00:00:00Z", datetime(2024, 2, 29, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", gotime.ZERO_DATETIME),
        ("2026-11-26T07:14:19.1234567891234Z", datetime(2026, 11, 26, 7, 14, 19, 123456, tzinfo=UTC)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    parsed = gotime.parse_time(text)
    assert parsed == expected
    assert parsed.utcoffset() is not None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-11-26 07:14:19Z", "bad format"),
        ("2026-11-26T07:14:19z", "bad format"),
        ("2026-11-26T7:14:19Z", "bad format"),
        ("2026-11-26T07:14:19", "bad format"),
        ("2026-11-26T07:14:19.Z", "bad format"),
        ("2026-11-26T07:14:19+0200", "bad format"),
        ("2026-11-26T07:14:19Z\n", "bad format"),
        ("", "bad format"),
        ("2026-02-29T00:00:00Z", "day out of range"),
        ("2026-13-01T00:00:00Z", "month out of range"),
        ("2026-11-26T24:00:00Z", "hour out of range"),
        ("2026-11-26T07:60:00Z", "minute out of range"),
        ("2026-11-26T07:14:60Z", "second out of range"),
        ("0000-01-01T00:00:00Z", "year out of range"),
        ("2026-11-26T07:14:19+24:00", "time zone offset out of range"),
    ],
)
def test_parse_time_rejects(text: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        gotime.parse_time(text)
    assert str(err.value).startswith("parsing time ")
    assert str(err.value).endswith(reason)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ("", None),
        ("0001-01-01T00:00:00Z", None),
        ("2026-11-26T07:14:19Z", datetime(2026, 11, 26, 7, 14, 19, tzinfo=UTC)),
    ],
)
def test_parse_optional_time(text: str | None, expected: datetime | None) -> None:
    assert gotime.parse_optional_time(text) == expected


def test_zero_time() -> None:
    assert gotime.ZERO_TIME == "0001-01-01T00:00:00Z"
    assert gotime.is_zero_time(None)
    assert gotime.is_zero_time(gotime.parse_time(gotime.ZERO_TIME))
    assert not gotime.is_zero_time(REF)


@pytest.mark.parametrize(
    "dt",
    [REF, datetime(2026, 7, 1, 9, 0, 0, 5, tzinfo=ROME), datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-3)))],
)
def test_format_parse_round_trip(dt: datetime) -> None:
    assert gotime.parse_time(gotime.format_time(dt)) == dt


@pytest.mark.parametrize(
    ("tz", "expected"),
    [("", "UTC"), ("Europe/Rome", "Europe/Rome"), (":Europe/Rome", "Europe/Rome"), ("No/Such_Zone", "UTC")],
)
def test_local_zone_follows_tz(monkeypatch: pytest.MonkeyPatch, tz: str, expected: str) -> None:
    monkeypatch.setenv("TZ", tz)
    zone = gotime.local_zone()
    assert str(getattr(zone, "key", zone)) == expected
