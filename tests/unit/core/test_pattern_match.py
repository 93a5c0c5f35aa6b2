"""Recognising the names a snapshot pattern gives (what retention may prune) and nothing else."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pincus.base.errors import InvalidArgument
from pincus.core import pattern

UTC = timezone.utc
ZONES = [UTC, ZoneInfo("Europe/Rome"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata"),
         ZoneInfo("Australia/Lord_Howe")]
DATE_PATTERN = "{{ creation_date|date:'2006-01-02_15-04-05' }}"
PATTERNS = [
    "", "snap%d", "auto-%d", "%d", "x%%d", DATE_PATTERN,
    "{{ creation_date|date:'20060102T150405Z0700' }}",
    "daily-{{ creation_date|date:'Jan-02' }}-%d",
    "{{ creation_date|date:'Mon-January-2-3PM' | upper }}-%d",
    "{{ creation_date|time:\"2006.01.02-15.04.05.000-MST\"|lower }}",
    "{# a comment #}w{{ creation_date|date:'06-002-.999999' }}",
    "t{{ creation_date|date:'Z07:00' }}",
]


@pytest.mark.parametrize("template,name", [
    ("", "snap0"), ("", "snap12"), ("auto-%d", "auto-0"), ("auto-%d", "auto-123"),
    (DATE_PATTERN, "2026-11-25_07-00-00"), (DATE_PATTERN, "2026-11-25_07-00-00-1"),
    ("daily-{{ creation_date|date:'Jan-02' }}-%d", "daily-Nov-25-3"),
    ("{{ creation_date|date:'Mon-January' | upper }}-%d", "WED-NOVEMBER-0"),
])
def test_names_the_pattern_gives_match(template, name):
    assert pattern.made_by_pattern(template, name)


@pytest.mark.parametrize("template,name", [
    ("", "snap"), ("", "snapshot1"), ("", "snap1a"), ("", "before-upgrade"), ("", "Snap1"),
    ("auto-%d", "auto-"), ("auto-%d", "auto-1x"), ("auto-%d", "xauto-1"), ("auto-%d", "auto-1-2"),
    ("auto-%d", "auto--1"), ("auto-%d", "snap0"),
    (DATE_PATTERN, "2026-11-25_07-00"), (DATE_PATTERN, "2026-11-25_07-00-00-x"), (DATE_PATTERN, "manual"),
    (DATE_PATTERN, "2026-11-25_07-00-00-"),
    ("daily-{{ creation_date|date:'Jan-02' }}-%d", "daily-Foo-25-3"),
])
def test_other_names_do_not_match(template, name):
    assert not pattern.made_by_pattern(template, name)


@pytest.mark.parametrize("template", ["{% if x %}a{% endif %}", "{{ other }}", "a%db%d", "{{ creation_date }}"])
def test_a_pattern_that_cannot_name_snapshots_recognises_nothing(template):
    assert pattern.name_regex(template) is None
    assert not pattern.made_by_pattern(template, "a0b0")


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(PATTERNS),
       st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.sampled_from(ZONES)),
       st.lists(st.integers(min_value=0, max_value=10**6), max_size=3))
def test_every_name_the_pattern_gives_matches(template, when, taken):
    try:
        base = pattern.next_snapshot_name(template, [], when)
        name = pattern.next_snapshot_name(template, [base] + [f"{base}-{n}" for n in taken], when)
    except InvalidArgument:
        assume(False)  # e.g. a "+02" zone offset: not a valid snapshot name
    regex = pattern.name_regex(template)
    assert regex is not None
    assert regex.fullmatch(base), (template, base, regex.pattern)
    assert regex.fullmatch(name), (template, name, regex.pattern)
