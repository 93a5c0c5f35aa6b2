from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pincus.core.retention import (
    FUTURE,
    NO_POLICY,
    USER_PREFIX,
    RetentionPolicy,
    evaluate,
    find_policy,
    parse_count,
    snapshots_to_keep,
)

UTC = timezone.utc
ROME = ZoneInfo("Europe/Rome")
NY = ZoneInfo("America/New_York")


def t(zone, y, mo, d, h=12, mi=0, fold=0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=zone, fold=fold)


def named(*times: datetime) -> list[tuple[str, datetime]]:
    """auto-0 is the first time given, auto-1 the next, ..."""
    return [(f"auto-{i}", when) for i, when in enumerate(times)]


NOW = t(UTC, 2030, 1, 1)

# (id, policy, snapshots, now, expected {name: reasons})
CASES = [
    ("last", RetentionPolicy(last=2),
     named(t(UTC, 2026, 11, 20), t(UTC, 2026, 11, 21), t(UTC, 2026, 11, 22)), NOW,
     {"auto-2": ("last 1",), "auto-1": ("last 2",)}),
    ("hourly", RetentionPolicy(hourly=3),
     named(t(UTC, 2026, 11, 25, 10, 5), t(UTC, 2026, 11, 25, 10, 40), t(UTC, 2026, 11, 25, 11, 10),
           t(UTC, 2026, 11, 25, 12, 0), t(UTC, 2026, 11, 25, 12, 30), t(UTC, 2026, 11, 25, 13, 59)), NOW,
     {"auto-5": ("hourly 2026-11-25 13:00+00:00",), "auto-4": ("hourly 2026-11-25 12:00+00:00",),
      "auto-2": ("hourly 2026-11-25 11:00+00:00",)}),
    ("daily", RetentionPolicy(daily=2),
     named(t(UTC, 2026, 11, 23, 1), t(UTC, 2026, 11, 23, 23), t(UTC, 2026, 11, 24, 1), t(UTC, 2026, 11, 24, 23),
           t(UTC, 2026, 11, 25, 1), t(UTC, 2026, 11, 25, 23)), NOW,
     {"auto-5": ("daily 2026-11-25",), "auto-3": ("daily 2026-11-24",)}),
    ("weekly is ISO, Monday to Sunday", RetentionPolicy(weekly=2),
     named(t(UTC, 2026, 11, 15), t(UTC, 2026, 11, 22), t(UTC, 2026, 11, 23), t(UTC, 2026, 11, 25)), NOW,
     {"auto-3": ("weekly 2026-W48",), "auto-1": ("weekly 2026-W47",)}),
    ("monthly", RetentionPolicy(monthly=2),
     named(t(UTC, 2026, 9, 30), t(UTC, 2026, 10, 1), t(UTC, 2026, 10, 31), t(UTC, 2026, 11, 2)), NOW,
     {"auto-3": ("monthly 2026-11",), "auto-2": ("monthly 2026-10",)}),
    ("yearly", RetentionPolicy(yearly=2),
     named(t(UTC, 2024, 6, 1), t(UTC, 2025, 1, 1), t(UTC, 2025, 12, 31), t(UTC, 2026, 3, 3)), NOW,
     {"auto-3": ("yearly 2026",), "auto-2": ("yearly 2025",)}),
    ("a snapshot kept by several rules uses a slot of each", RetentionPolicy(last=1, daily=3),
     named(t(UTC, 2026, 11, 22), t(UTC, 2026, 11, 23), t(UTC, 2026, 11, 24), t(UTC, 2026, 11, 25, 8),
           t(UTC, 2026, 11, 25, 9)), NOW,
     {"auto-4": ("last 1", "daily 2026-11-25"), "auto-2": ("daily 2026-11-24",),
      "auto-1": ("daily 2026-11-23",)}),
    ("full GFS", RetentionPolicy(last=1, daily=2, weekly=2, monthly=2, yearly=2),
     named(t(UTC, 2025, 12, 15), t(UTC, 2026, 10, 20), t(UTC, 2026, 11, 16), t(UTC, 2026, 11, 24),
           t(UTC, 2026, 11, 25)), NOW,
     {"auto-4": ("last 1", "daily 2026-11-25", "weekly 2026-W48", "monthly 2026-11", "yearly 2026"),
      "auto-3": ("daily 2026-11-24",), "auto-2": ("weekly 2026-W47",), "auto-1": ("monthly 2026-10",),
      "auto-0": ("yearly 2025",)}),
    ("fewer snapshots than the counts", RetentionPolicy(last=10, daily=10, yearly=5),
     named(t(UTC, 2026, 11, 24), t(UTC, 2026, 11, 25)), NOW,
     {"auto-1": ("last 1", "daily 2026-11-25", "yearly 2026"), "auto-0": ("last 2", "daily 2026-11-24")}),
    ("periods without snapshots are not counted", RetentionPolicy(daily=2),
     named(t(UTC, 2025, 1, 1), t(UTC, 2026, 6, 1), t(UTC, 2026, 11, 25)), NOW,
     {"auto-2": ("daily 2026-11-25",), "auto-1": ("daily 2026-06-01",)}),
    ("identical dates: the higher number is the newer", RetentionPolicy(last=1, daily=1),
     [("auto-9", t(UTC, 2026, 11, 25)), ("auto-10", t(UTC, 2026, 11, 25)), ("auto-8", t(UTC, 2026, 11, 25))], NOW,
     {"auto-10": ("last 1", "daily 2026-11-25")}),
    ("snapshots after now are kept and count for nothing", RetentionPolicy(last=1),
     named(t(UTC, 2026, 11, 24), t(UTC, 2026, 11, 25), t(UTC, 2031, 1, 1)), NOW,
     {"auto-2": (FUTURE,), "auto-1": ("last 1",)}),
    ("no policy keeps everything", RetentionPolicy(),
     named(t(UTC, 2026, 11, 24), t(UTC, 2026, 11, 25)), NOW,
     {"auto-1": (NO_POLICY,), "auto-0": (NO_POLICY,)}),
    ("no snapshots", RetentionPolicy(last=3), [], NOW, {}),
    # Rome springs forward on 2026-03-29 (a 23-hour day): its first minutes are still 28 March in UTC.
    ("Rome 23-hour day is one day", RetentionPolicy(daily=2),
     named(t(ROME, 2026, 3, 28, 12), t(ROME, 2026, 3, 29, 0, 30), t(ROME, 2026, 3, 29, 23, 30)), t(ROME, 2026, 4, 1),
     {"auto-2": ("daily 2026-03-29",), "auto-0": ("daily 2026-03-28",)}),
    ("Rome spring forward: the hours before and after the gap", RetentionPolicy(hourly=3),
     named(t(ROME, 2026, 3, 29, 1, 10), t(ROME, 2026, 3, 29, 1, 50), t(ROME, 2026, 3, 29, 3, 10)),
     t(ROME, 2026, 4, 1),
     {"auto-2": ("hourly 2026-03-29 03:00+02:00",), "auto-1": ("hourly 2026-03-29 01:00+01:00",)}),
    # Rome falls back on 2026-10-25 (a 25-hour day): 02:00-03:00 happens twice.
    ("Rome 25-hour day is one day", RetentionPolicy(daily=2),
     named(t(ROME, 2026, 10, 24, 23, 59), t(ROME, 2026, 10, 25, 0, 1), t(ROME, 2026, 10, 25, 23, 59)),
     t(ROME, 2026, 11, 1),
     {"auto-2": ("daily 2026-10-25",), "auto-0": ("daily 2026-10-24",)}),
    ("Rome fall back: the repeated hour is two hours", RetentionPolicy(hourly=2),
     named(t(ROME, 2026, 10, 25, 2, 10), t(ROME, 2026, 10, 25, 2, 50), t(ROME, 2026, 10, 25, 2, 20, fold=1)),
     t(ROME, 2026, 11, 1),
     {"auto-2": ("hourly 2026-10-25 02:00+01:00",), "auto-1": ("hourly 2026-10-25 02:00+02:00",)}),
    ("New York 23-hour day is one day", RetentionPolicy(daily=2),
     named(t(NY, 2026, 3, 7, 22), t(NY, 2026, 3, 8, 0, 5), t(NY, 2026, 3, 8, 23, 55)), t(NY, 2026, 3, 10),
     {"auto-2": ("daily 2026-03-08",), "auto-0": ("daily 2026-03-07",)}),
    # 2026-11-01 00:10 EDT is 04:10 UTC on the 1st, 23:50 EST is 04:50 UTC on the 2nd: one local day.
    ("New York 25-hour day is one day", RetentionPolicy(daily=2),
     named(t(NY, 2026, 10, 31, 20), t(NY, 2026, 11, 1, 0, 10), t(NY, 2026, 11, 1, 23, 50)), t(NY, 2026, 11, 5),
     {"auto-2": ("daily 2026-11-01",), "auto-0": ("daily 2026-10-31",)}),
    ("New York fall back: 01:10 EST is newer than 01:30 EDT", RetentionPolicy(last=1),
     named(t(NY, 2026, 11, 1, 1, 30), t(NY, 2026, 11, 1, 1, 10, fold=1)), t(NY, 2026, 11, 5),
     {"auto-1": ("last 1",)}),
    # 2026 has 53 ISO weeks: Thursday 31 December to Sunday 3 January are 2026-W53.
    ("ISO week 53 spans the new year", RetentionPolicy(weekly=2),
     named(t(UTC, 2026, 12, 27), t(UTC, 2026, 12, 31), t(UTC, 2027, 1, 2), t(UTC, 2027, 1, 4)), NOW,
     {"auto-3": ("weekly 2027-W01",), "auto-2": ("weekly 2026-W53",)}),
    ("years split at the local new year", RetentionPolicy(yearly=2, monthly=2),
     named(t(ROME, 2026, 12, 31, 12), t(ROME, 2027, 1, 1, 0, 30)), t(ROME, 2027, 2, 1),
     {"auto-1": ("monthly 2027-01", "yearly 2027"), "auto-0": ("monthly 2026-12", "yearly 2026")}),
]


@pytest.mark.parametrize("policy,snaps,now,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_retention_table(policy, snaps, now, expected):
    result = evaluate(policy, snaps, now)
    assert result.keep == expected
    assert set(result.prune) == {name for name, _ in snaps} - set(expected)
    assert snapshots_to_keep(policy, snaps, now) == set(expected)


@pytest.mark.parametrize("policy,snaps,now,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_input_order_does_not_matter(policy, snaps, now, expected):
    shuffled = list(snaps)
    random.Random(4).shuffle(shuffled)
    assert evaluate(policy, shuffled, now) == evaluate(policy, list(reversed(snaps)), now)


def test_periods_are_those_of_the_zone_of_now():
    snaps = named(t(ROME, 2026, 3, 28, 12), t(ROME, 2026, 3, 29, 0, 30))  # 23:30 UTC on the 28th
    assert snapshots_to_keep(RetentionPolicy(daily=2), snaps, t(ROME, 2026, 4, 1)) == {"auto-0", "auto-1"}
    assert snapshots_to_keep(RetentionPolicy(daily=2), snaps, t(UTC, 2026, 4, 1)) == {"auto-1"}


def test_prune_is_newest_first():
    snaps = named(*(t(UTC, 2026, 11, d) for d in range(1, 6)))
    assert evaluate(RetentionPolicy(last=1), snaps, NOW).prune == ("auto-3", "auto-2", "auto-1", "auto-0")


@pytest.mark.parametrize("snaps,now,message", [
    (named(datetime(2026, 1, 1)), NOW, "naive"),
    ([("a", t(UTC, 2026, 1, 1)), ("a", t(UTC, 2026, 1, 2))], NOW, "unique"),
    ([], datetime(2026, 1, 1), "aware"),
])
def test_bad_input_is_refused(snaps, now, message):
    with pytest.raises(ValueError, match=message):
        evaluate(RetentionPolicy(last=1), snaps, now)


def test_negative_counts_are_refused():
    with pytest.raises(ValueError, match="daily"):
        RetentionPolicy(daily=-1)


def test_policy_from_config():
    config = {"snapshots.retention.daily": "7", "snapshots.retention.last": "", "snapshots.retention.weekly": "4"}
    policy = RetentionPolicy.from_config(config)
    assert policy == RetentionPolicy(daily=7, weekly=4) and policy.enabled
    assert policy.describe() == "daily=7 weekly=4"
    assert RetentionPolicy().describe() == "none" and not RetentionPolicy().enabled


@pytest.mark.parametrize("value", ["-1", "x", "1.5", " 3", "+3", "٣"])
def test_bad_counts_name_the_key(value):
    with pytest.raises(ValueError, match='"snapshots.retention.daily": must be a non-negative integer'):
        parse_count("snapshots.retention.daily", value)


def test_find_policy_prefers_the_first_prefix_that_is_set():
    both = {"snapshots.retention.last": "2", "user.snapshots.retention.last": "5"}
    user_only = {"user.snapshots.retention.daily": "3"}
    prefixes = ("snapshots.retention.", USER_PREFIX)
    assert find_policy(both, prefixes) == (RetentionPolicy(last=2), "snapshots.retention.")
    assert find_policy(user_only, prefixes) == (RetentionPolicy(daily=3), USER_PREFIX)
    assert find_policy(user_only) == (RetentionPolicy(), "snapshots.retention.")


# Properties ----------------------------------------------------------------------------------

ZONES = st.sampled_from([UTC, ROME, NY])
DATES = st.datetimes(min_value=datetime(2019, 1, 1), max_value=datetime(2028, 12, 31), timezones=ZONES)
SNAPSHOTS = st.lists(DATES, max_size=40).map(lambda times: [(f"s{i}", when) for i, when in enumerate(times)])
COUNTS = st.integers(min_value=0, max_value=6)
POLICIES = st.builds(RetentionPolicy, last=COUNTS, hourly=COUNTS, daily=COUNTS, weekly=COUNTS,
                     monthly=COUNTS, yearly=COUNTS)
NOWS = st.sampled_from([t(ROME, 2029, 1, 1), t(NY, 2029, 1, 1), t(UTC, 2024, 6, 1)])


def _newest(snaps, now, n):
    past = [s for s in snaps if s[1] <= now]
    past.sort(key=lambda s: (s[1].astimezone(UTC), int(s[0][1:])), reverse=True)
    return {name for name, _ in past[:n]}


@settings(max_examples=150, deadline=None)
@given(POLICIES, SNAPSHOTS, NOWS)
def test_keep_and_prune_split_the_input(policy, snaps, now):
    result = evaluate(policy, snaps, now)
    names = {name for name, _ in snaps}
    assert result.kept <= names
    assert result.kept | set(result.prune) == names and not result.kept & set(result.prune)
    future = {name for name, when in snaps if when > now}
    assert future <= result.kept
    if policy.enabled:
        assert len(result.kept - future) <= sum(policy.counts().values())


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=50), SNAPSHOTS, NOWS)
def test_last_n_keeps_exactly_the_n_newest(n, snaps, now):
    future = {name for name, when in snaps if when > now}
    assert snapshots_to_keep(RetentionPolicy(last=n), snaps, now) == _newest(snaps, now, n) | future


@settings(max_examples=100, deadline=None)
@given(POLICIES, SNAPSHOTS, NOWS, st.sampled_from(["last", "hourly", "daily", "weekly", "monthly", "yearly"]))
def test_a_higher_count_never_keeps_less(policy, snaps, now, rule):
    more = RetentionPolicy(**{**policy.counts(), rule: policy.counts()[rule] + 1})
    assert snapshots_to_keep(policy, snaps, now) <= snapshots_to_keep(more, snaps, now)


@settings(max_examples=100, deadline=None)
@given(SNAPSHOTS, NOWS)
def test_daily_keeps_one_per_local_day(snaps, now):
    result = evaluate(RetentionPolicy(daily=1000), snaps, now)
    days = {when.astimezone(now.tzinfo).date() for when in (dict(snaps)[n] for n in result.keep) if when <= now}
    assert len(days) == len([n for n in result.keep if dict(snaps)[n] <= now])
    assert days == {when.astimezone(now.tzinfo).date() for _, when in snaps if when <= now}


def test_a_year_of_frequent_snapshots_thins_to_the_policy():
    start = t(ROME, 2026, 1, 1)
    snaps = [(f"auto-{i}", start + timedelta(minutes=7 * i)) for i in range(20000)]
    result = evaluate(RetentionPolicy(last=5, hourly=24, daily=30, weekly=8, monthly=12, yearly=3), snaps,
                      t(ROME, 2026, 12, 31))
    assert 40 < len(result.keep) < 82
