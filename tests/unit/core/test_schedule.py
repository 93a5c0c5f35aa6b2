"""Snapshot schedules: validation messages, alias minutes, next firing and DST.

Messages, alias minutes and firing times were checked against Incus's validate.IsCron, its
getObfuscatedTimeValuesForSubject and robfig/cron v3.0.1.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from pincus.base.errors import InvalidArgument
from pincus.base.gotime import format_time
from pincus.core import schedule

UTC = timezone.utc
ROME = ZoneInfo("Europe/Rome")
FORM = schedule.FORM_ERROR


@pytest.mark.parametrize(
    "spec",
    [
        "", "* * * * *", "0 3 * * *", "*/5 * * * *", "0,30 * * * *", "0 0 1 1 *", "0 0 * * MON-FRI",
        "0 0 * JAN-MAR SUN", "* * ? * ?", "5/15 * * * *", "+5 * * * *", "05 * * * *", "1,,2 * * * *",
        "*-5 * * * *", "0 0 30 2 *", "* * * jan-dec/2 *", "* * * * sun-sat/2",
        "@hourly", "@HOURLY", "@daily, 0 3 * * *", "@startup", "@never", "@startup, @daily",
        "@Daily, @WEEKLY", "@daily, @daily", "0,30 * * * *, @daily", "10 2,5-8/2 * * *",
        "* * * * *\t", "0 0 * * *\n",  # split on single spaces first, then on any white space
    ],
)
def test_valid_schedules(spec: str) -> None:
    schedule.validate_schedule(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("* * * * * *", FORM),
        ("* * * *", FORM),
        ("*  * * * *", FORM),  # a double space makes an empty field
        ("@daily,0 3 * * *", "Error parsing schedule: unrecognized descriptor: @daily,0 3 * * *"),
        ("@reboot", FORM),
        ("@every 1h", FORM),
        ("* * * * *, ", FORM),
        ("0, 30 * * * *", FORM),
        ("@daily,  @hourly", FORM),
        ("  * * * *", FORM),
        (", * * * *", FORM),
        ("* * *  ", "Error parsing schedule: expected exactly 5 fields, found 3: [* * *]"),
        ("0 0 * * 7", "Error parsing schedule: end of range (7) above maximum (6): 7"),
        ("60 * * * *", "Error parsing schedule: end of range (60) above maximum (59): 60"),
        ("* 24 * * *", "Error parsing schedule: end of range (24) above maximum (23): 24"),
        ("* * 0 * *", "Error parsing schedule: beginning of range (0) below minimum (1): 0"),
        ("* * 32 * *", "Error parsing schedule: end of range (32) above maximum (31): 32"),
        ("* * * 13 *", "Error parsing schedule: end of range (13) above maximum (12): 13"),
        ("* * * 0 *", "Error parsing schedule: beginning of range (0) below minimum (1): 0"),
        ("1-2-3 * * * *", "Error parsing schedule: too many hyphens: 1-2-3"),
        ("1/2/3 * * * *", "Error parsing schedule: too many slashes: 1/2/3"),
        ("*/0 * * * *", "Error parsing schedule: step of range should be a positive number: */0"),
        ("*/-5 * * * *", "Error parsing schedule: negative number (-5) not allowed: -5"),
        ("5-1 * * * *", "Error parsing schedule: beginning of range (5) beyond end of range (1): 5-1"),
        ("/5 * * * *", 'Error parsing schedule: failed to parse int from : strconv.Atoi: parsing "": invalid syntax'),
        ("a * * * *", 'Error parsing schedule: failed to parse int from a: strconv.Atoi: parsing "a": invalid syntax'),
        ("mon * * * *", 'Error parsing schedule: failed to parse int from mon: strconv.Atoi: parsing "mon": invalid syntax'),
        ("1_0 * * * *", 'Error parsing schedule: failed to parse int from 1_0: strconv.Atoi: parsing "1_0": invalid syntax'),
        ("99999999999999999999 * * * *", "Error parsing schedule: failed to parse int from 99999999999999999999: "
         'strconv.Atoi: parsing "99999999999999999999": value out of range'),
        ("* * * feb-jan *", "Error parsing schedule: beginning of range (2) beyond end of range (1): feb-jan"),
        ("* * L * *", 'Error parsing schedule: failed to parse int from l: strconv.Atoi: parsing "l": invalid syntax'),
        ("TZ=UTC * * * *", 'Error parsing schedule: failed to parse int from tz=utc: strconv.Atoi: parsing "tz=utc": invalid syntax'),
        ("@weekly 1 2 3 4", "Error parsing schedule: unrecognized descriptor: @weekly 1 2 3 4"),
    ],
)
def test_invalid_schedules(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        schedule.validate_schedule(spec)
    assert str(err.value) == message


def test_volume_schedules_have_no_startup_or_never() -> None:
    schedule.validate_schedule("@daily", schedule.VOLUME_ALIASES)
    for spec in ("@startup", "@never", "@daily, @startup"):
        with pytest.raises(InvalidArgument) as err:
            schedule.validate_schedule(spec, schedule.VOLUME_ALIASES)
        assert str(err.value) == FORM


@pytest.mark.parametrize(
    ("subject_id", "minute_hour"),
    [
        (0, (20, 8)), (1, (29, 5)), (2, (21, 9)), (3, (23, 23)), (4, (50, 2)), (5, (55, 19)),
        (6, (6, 6)), (7, (28, 4)), (42, (49, 1)), (1000, (16, 4)), (-1, (59, 11)), (2**63 - 1, (42, 6)),
    ],
)
def test_obfuscated_minute_hour_matches_incus(subject_id: int, minute_hour: tuple[int, int]) -> None:
    assert schedule.obfuscated_minute_hour(subject_id) == minute_hour


@pytest.mark.parametrize(
    ("spec", "specs"),
    [
        ("", []),
        ("@hourly", ["29 * * * *"]),
        ("@daily", ["29 5 * * *"]),
        ("@DAILY", ["29 5 * * *"]),
        ("@midnight", ["29 0 * * *"]),
        ("@weekly", ["29 5 * * 0"]),
        ("@monthly", ["29 5 1 * *"]),
        ("@annually", ["29 5 1 1 *"]),
        ("@yearly", ["29 5 1 1 *"]),
        ("@startup, @never", []),
        ("0 3 * * *", ["0 3 * * *"]),
        ("0,30 * * * *, @daily", ["0,30 * * * *", "29 5 * * *"]),
        ("@startup, 10 2,5-8/2 * * *", ["10 2,5-8/2 * * *"]),
    ],
)
def test_cron_specs_expand_aliases(spec: str, specs: list[str]) -> None:
    assert schedule.cron_specs(spec, 1) == specs


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("", False), ("@startup", True), ("@STARTUP", True), ("@daily, @startup", True), ("@daily,@startup", False),
     ("@daily", False), ("* * * * *", False)],
)
def test_has_startup(spec: str, expected: bool) -> None:
    assert schedule.has_startup(spec) is expected


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0,
    *, tz: ZoneInfo | timezone = UTC, fold: int = 0,
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz, fold=fold)


@pytest.mark.parametrize(
    ("spec", "after", "expected"),
    [
        ("0 3 * * *", at(2026, 5, 4, 10, 0), "2026-05-05T03:00:00Z"),
        ("*/15 * * * *", at(2026, 5, 4, 10, 7, 30), "2026-05-04T10:15:00Z"),
        ("*/15 * * * *", at(2026, 5, 4, 10, 15), "2026-05-04T10:30:00Z"),  # strictly after
        ("5/20 * * * *", at(2026, 5, 4, 10, 46), "2026-05-04T11:05:00Z"),
        ("0 0 29 2 *", at(2026, 5, 4, 10, 0), "2028-02-29T00:00:00Z"),
        ("0 0 30 2 *", at(2026, 5, 4, 10, 0), None),
        ("0 0 31 * *", at(2026, 4, 1), "2026-05-31T00:00:00Z"),
        ("0 0 13 * 5", at(2026, 5, 4, 10, 0), "2026-05-08T00:00:00Z"),  # 13th OR Friday
        ("0 0 13 * *", at(2026, 5, 4, 10, 0), "2026-05-13T00:00:00Z"),
        ("0 0 * * MON-FRI", at(2026, 5, 9, 10, 0), "2026-05-11T00:00:00Z"),
        ("0 0 * * mon", at(2026, 5, 9, 10, 0), "2026-05-11T00:00:00Z"),
        ("0 0 1-31 * MON", at(2026, 5, 9, 10, 0), "2026-05-10T00:00:00Z"),  # no star: OR, every day
        ("0 12 * JAN-MAR SUN", at(2026, 5, 4, 10, 0), "2027-01-03T12:00:00Z"),
        ("59 23 31 12 *", at(2026, 12, 31, 23, 59), "2027-12-31T23:59:00Z"),
        ("0 3 * * *, 0 1 * * *", at(2026, 5, 4, 2, 0), "2026-05-04T03:00:00Z"),  # earliest trigger
        ("@daily", at(2026, 5, 4, 10, 0), "2026-05-05T05:29:00Z"),
        ("@hourly, @startup", at(2026, 5, 4, 10, 0), "2026-05-04T10:29:00Z"),
        ("@startup", at(2026, 5, 4, 10, 0), None),
        ("@never", at(2026, 5, 4, 10, 0), None),
        ("", at(2026, 5, 4, 10, 0), None),
    ],
)
def test_next_fire(spec: str, after: datetime, expected: str | None) -> None:
    fire = schedule.next_fire(spec, 1, after)
    assert (format_time(fire) if fire else None) == expected


@pytest.mark.parametrize(
    ("spec", "after", "expected"),
    [
        # Spring forward, 2026-03-29 02:00 CET -> 03:00 CEST: 02:xx does not exist that day.
        ("30 2 * * *", at(2026, 3, 28, 3, 0, tz=ROME), "2026-03-30T02:30:00+02:00"),
        ("0 2 * * *", at(2026, 3, 28, 3, 0, tz=ROME), "2026-03-30T02:00:00+02:00"),
        ("0 3 * * *", at(2026, 3, 29, 0, 0, tz=ROME), "2026-03-29T03:00:00+02:00"),
        ("0 * * * *", at(2026, 3, 29, 1, 30, tz=ROME), "2026-03-29T03:00:00+02:00"),
        # Fall back, 2026-10-25 03:00 CEST -> 02:00 CET: 02:xx happens twice and fires twice.
        ("30 2 * * *", at(2026, 10, 25, 0, 0, tz=ROME), "2026-10-25T02:30:00+02:00"),
        ("30 2 * * *", at(2026, 10, 25, 2, 30, tz=ROME), "2026-10-25T02:30:00+01:00"),
        ("30 2 * * *", at(2026, 10, 25, 2, 30, tz=ROME, fold=1), "2026-10-26T02:30:00+01:00"),
        ("0 * * * *", at(2026, 10, 25, 1, 30, tz=ROME), "2026-10-25T02:00:00+02:00"),
        ("0 * * * *", at(2026, 10, 25, 2, 30, tz=ROME), "2026-10-25T02:00:00+01:00"),
        ("0 * * * *", at(2026, 10, 25, 2, 30, tz=ROME, fold=1), "2026-10-25T03:00:00+01:00"),
        # A whole day missing (2011-12-30 in Samoa): robfig/cron loops forever here.
        ("0 0 31 * *", at(2011, 12, 29, 0, 0, tz=ZoneInfo("Pacific/Apia")), "2011-12-31T00:00:00+14:00"),
    ],
)
def test_next_fire_across_dst(spec: str, after: datetime, expected: str) -> None:
    fire = schedule.next_fire(spec, 1, after)
    assert fire is not None
    assert format_time(fire) == expected


@pytest.mark.parametrize(
    ("spec", "now", "due"),
    [
        ("0 3 * * *", at(2026, 5, 4, 3, 0, 40), True),
        ("0 3 * * *", at(2026, 5, 4, 3, 0, 0), True),
        ("0 3 * * *", at(2026, 5, 4, 3, 0, 59, 999999), True),  # seconds are ignored
        ("0 3 * * *", at(2026, 5, 4, 2, 59, 40), False),  # Incus 6.0 would say True here
        ("0 3 * * *", at(2026, 5, 4, 3, 1, 0), False),
        ("* * * * *", at(2026, 5, 4, 17, 23, 5), True),
        ("*/5 * * * *", at(2026, 5, 4, 17, 25), True),
        ("*/5 * * * *", at(2026, 5, 4, 17, 26), False),
        ("@daily", at(2026, 5, 4, 5, 29, 40), True),
        ("@daily", at(2026, 5, 4, 6, 29, 40), False),
        ("@hourly", at(2026, 5, 4, 6, 29, 40), True),
        ("@startup", at(2026, 5, 4, 5, 29), False),
        ("@never", at(2026, 5, 4, 5, 29), False),
        ("", at(2026, 5, 4, 5, 29), False),
        ("0,30 * * * *, @daily", at(2026, 5, 4, 10, 0), True),  # Incus 6.0 misses :00 here
        ("0,30 * * * *, @daily", at(2026, 5, 4, 10, 30), True),
        ("0,30 * * * *, @daily", at(2026, 5, 4, 5, 29), True),
        ("0,30 * * * *, @daily", at(2026, 5, 4, 10, 15), False),
    ],
)
def test_is_due(spec: str, now: datetime, due: bool) -> None:
    assert schedule.is_due(spec, 1, now) is due


def test_is_due_skips_the_missing_hour_and_repeats_the_doubled_one() -> None:
    spec = "30 2 * * *"
    spring = [(at(2026, 3, 28, 23, 0) + timedelta(minutes=m)).astimezone(ROME) for m in range(24 * 60)]
    assert not any(schedule.is_due(spec, 1, now) for now in spring)
    autumn = [(at(2026, 10, 24, 22, 0) + timedelta(minutes=m)).astimezone(ROME) for m in range(25 * 60)]
    fired = [format_time(now) for now in autumn if schedule.is_due(spec, 1, now)]
    assert fired == ["2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"]


def test_is_due_agrees_with_next_fire() -> None:
    start = at(2026, 5, 4, 0, 0, tz=ROME)
    fire = schedule.next_fire("@daily, */17 9-11 * * *", 5, start)
    assert fire is not None
    minutes = [start + timedelta(minutes=m) for m in range(1, 24 * 60)]
    assert next(now for now in minutes if schedule.is_due("@daily, */17 9-11 * * *", 5, now)) == fire


def test_invalid_schedule_is_refused_when_evaluated() -> None:
    with pytest.raises(InvalidArgument):
        schedule.is_due("61 * * * *", 1, at(2026, 5, 4))
    with pytest.raises(InvalidArgument):
        schedule.next_fire("@reboot", 1, at(2026, 5, 4))


def test_evaluation_needs_aware_datetimes() -> None:
    with pytest.raises(ValueError):
        schedule.is_due("* * * * *", 1, datetime(2026, 5, 4))
    with pytest.raises(ValueError):
        schedule.next_fire("* * * * *", 1, datetime(2026, 5, 4))


def test_parse_cron_bits() -> None:
    parsed = schedule.parse_cron("0,30 */6 * jan-mar mon-fri")
    assert parsed.minute == 1 << 0 | 1 << 30
    assert parsed.hour == 1 << 0 | 1 << 6 | 1 << 12 | 1 << 18
    assert parsed.month == 0b1110
    assert parsed.dow == 0b111110
    assert parsed.day_matches(at(2026, 5, 4))  # a Monday
    assert not parsed.day_matches(at(2026, 5, 3))  # a Sunday
