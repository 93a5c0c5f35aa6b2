"""Snapshot name patterns: Go layouts, the Pongo2 subset and Incus's next-name rules.

Expected layouts and indexes were checked against Go's time package, Pongo2 v6 and fmt.Sscanf.
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from pincus.base.errors import InvalidArgument
from pincus.core import pattern
from pincus.core.golayout import go_format
from pincus.core.pongo import render_pattern

UTC = timezone.utc
T = datetime(2026, 3, 5, 7, 4, 9, 120000, tzinfo=UTC)
R = datetime(2026, 7, 15, 19, 45, 3, 5, tzinfo=ZoneInfo("Europe/Rome"))
K = datetime(2026, 1, 1, 0, 0, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
REFERENCE = datetime(2006, 1, 2, 15, 4, 5, tzinfo=ZoneInfo("America/Phoenix"))  # Go's reference time


@pytest.mark.parametrize(
    ("dt", "layout", "expected"),
    [
        (T, "2006-01-02_15-04-05", "2026-03-05_07-04-09"),
        (T, "2006 06 01 1 Jan January 02 2 _2", "2026 26 03 3 Mar March 05 5  5"),
        (T, "15 03 3 04 4 05 5 PM pm", "07 07 7 04 4 09 9 AM am"),
        (T, "MST -0700 -07:00 Z07:00 Z0700 -07 Z07", "UTC +0000 +00:00 Z Z +00 Z"),
        (T, "Mon Monday", "Thu Thursday"),
        (T, ".000 .000000 .000000000 .9 .999999999 ,000", ".120 .120000 .120000000 .1 .12 ,120"),
        (T, "002 __2 _2006", "064  64 _2026"),
        (T, "Janet Monty Mond", "Janet Monty Mond"),  # Jan/Mon followed by a lower-case letter
        (T, "20060102T150405Z0700", "20260305T070409Z"),
        (T, "Mon Jan _2 15:04:05 MST 2006", "Thu Mar  5 07:04:09 UTC 2026"),
        (T, "snap-0-x", "snap-0-x"),
        (T, "snap-1", "snap-3"),  # a lone 1 is the month
        (T, "", ""),
        (R, "15 03 3 04 4 05 5 PM pm", "19 07 7 45 45 03 3 PM pm"),
        (R, "MST -0700 -07:00 Z07:00 Z0700 -07 Z07", "CEST +0200 +02:00 +02:00 +0200 +02 +02"),
        (R, ".000 .000000 .000000000 .9 .999999999 ,000", ".000 .000005 .000005000  .000005 ,000"),
        (R, "002 __2 _2006", "196 196 _2026"),
        (R, "01/02 03:04:05PM '06 -0700", "07/15 07:45:03PM '26 +0200"),
        (K, "15 03 3 04 4 05 5 PM pm", "00 12 12 00 0 00 0 AM am"),
        (K, "MST -0700 -07:00 Z07:00 Z0700 -07 Z07", "IST +0530 +05:30 +05:30 +0530 +05 +05"),
        (K, "002 __2", "001   1"),
        (REFERENCE, "Mon Jan _2 15:04:05 MST 2006", "Mon Jan  2 15:04:05 MST 2006"),
        (REFERENCE, "01/02 03:04:05PM '06 -0700", "01/02 03:04:05PM '06 -0700"),
    ],
)
def test_go_format(dt: datetime, layout: str, expected: str) -> None:
    assert go_format(dt, layout) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("snap%d", "snap%d"),
        ("", ""),
        ("{{ creation_date|date:'2006-01-02_15-04-05' }}", "2026-03-05_07-04-09"),
        ('{{creation_date|date:"2006"}}', "2026"),
        ('{{ creation_date | date : "Jan-2" }}', "Mar-5"),
        ('{{ creation_date|time:"15.04" }}', "07.04"),
        ('{{ creation_date|date:"Mon"|upper }}', "THU"),
        ('{{ creation_date|date:"Mon"|lower }}', "thu"),
        ("auto-{{ creation_date|date:'20060102-1504' }}-%d", "auto-20260305-0704-%d"),
        ('{{ creation_date|date:"2006" }}{{ creation_date|date:"01" }}', "202603"),
        ('{{ creation_date|date:"a\\"b\\\\c" }}', 'a"b\\c'),
        ("{{ creation_date|date:'a\"b' }}", 'a"b'),
        ("{# a comment #}x", "x"),
        ("a{b}c x}}y", "a{b}c x}}y"),
        ("{{ creation_date|date:'' }}", ""),
        # Rendered again while the output still holds a template, as Incus does: the first pass
        # turns the inner layout into '2026', which the second pass reads as day, zero day, 6.
        ("{{ creation_date|date:\"{{ creation_date|date:'2006' }}\" }}", "5056"),
    ],
)
def test_render_pattern(template: str, expected: str) -> None:
    assert render_pattern(template, T) == expected


def test_render_uses_the_zone_of_the_date() -> None:
    assert render_pattern("{{ creation_date|date:'15-04 MST' }}", R) == "19-45 CEST"


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ foo }}", 'unknown variable "foo"'),
        ("{{ creation_date }}", "format creation_date with the date filter"),
        ("{{ creation_date.Year }}", 'unknown variable "creation_date.Year"'),
        ("{% if 1 %}y{% endif %}", "template tags ({% ... %}) are not supported"),
        ('{{ "lit" }}', "expected a name"),
        ("{{ creation_date|date }}", "the date filter needs a Go layout argument"),
        ("{{ creation_date|date:2006 }}", "the date filter needs a quoted Go layout"),
        ("{{ creation_date|slugify }}", 'unsupported filter "slugify"'),
        ('{{ creation_date|date:"2006"|date:"x" }}', "the date filter applies to creation_date only"),
        ("{{ creation_date|upper }}", 'unsupported filter "upper"'),
        ('{{ creation_date|date:"2006"', "expected '}}'"),
        ('{{- creation_date|date:"2006" }}', "whitespace control"),
        ("{{ creation_date|date:'a\\'b' }}", "unknown escape sequence"),
        ("{{ creation_date|date:'2006 }}", "string not closed"),
        ("{# unclosed", "comment not closed"),
    ],
)
def test_render_refuses_unsupported_syntax(template: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        render_pattern(template, T)
    assert reason in str(err.value)
    assert str(err.value).startswith("Invalid snapshot pattern ")


def test_render_needs_an_aware_date() -> None:
    with pytest.raises(ValueError):
        render_pattern("snap%d", datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("rendered", "existing", "index"),
    [
        ("snap%d", [], 0),
        ("snap%d", ["snap0", "snap1"], 2),
        ("snap%d", ["snap0", "snap5"], 6),  # gaps are not filled
        ("snap%d", ["snap3"], 4),  # deleted low numbers are not reused
        ("snap%d", ["snap5", "snap2"], 6),  # order does not matter
        ("snap%d", ["other", "snap", "snap-"], 0),
        ("snap%d", ["snap-1"], 0),  # Sscanf reads -1
        ("snap%d", ["snap+5"], 6),
        ("snap%d", ["snap007"], 8),
        ("snap%d", ["snap3abc"], 4),  # input after the format is ignored
        ("snap%d", ["snap9223372036854775808"], 0),  # does not fit an int64
        ("snap%d-x", ["snap3-x", "snap5-y", "snap7-", "snap9"], 4),
        ("%d-daily", ["5-daily", "7-dail", "-3-daily"], 6),
        ("daily-%d", ["daily-2", "daily-1x", "daily-"], 3),
        ("a%%d", ["a%3", "a%%3"], 0),  # "a%" + "%d" reads as a literal "%d": nothing matches
        ("a%xb%d", ["a1b2"], 0),  # a second verb: Sscanf always fails
        ("x%d%", ["x4%"], 0),  # "%" at the end of the format
    ],
)
def test_next_snapshot_index(rendered: str, existing: list[str], index: int) -> None:
    assert pattern.next_snapshot_index(rendered, existing) == index


@pytest.mark.parametrize(
    ("template", "existing", "name"),
    [
        ("snap%d", [], "snap0"),
        ("", ["snap0", "snap1"], "snap2"),  # empty means the default snap%d
        ("snap%d", ["snap0", "snap7", "snap2"], "snap8"),
        ("auto-%d", ["snap0", "auto-0"], "auto-1"),
        ("daily", [], "daily"),
        ("daily", ["daily"], "daily-0"),  # taken: append -%d
        ("daily", ["daily", "daily-0", "daily-3"], "daily-4"),
        ("daily", ["daily-5"], "daily"),
        ("{{ creation_date|date:'2006-01-02' }}", [], "2026-03-05"),
        ("{{ creation_date|date:'2006-01-02' }}", ["2026-03-05"], "2026-03-05-0"),
        ("{{ creation_date|date:'2006-01-02' }}", ["2026-03-05", "2026-03-05-0"], "2026-03-05-1"),
        ("auto-{{ creation_date|date:'20060102' }}-%d", ["auto-20260305-0", "auto-20260304-7"], "auto-20260305-1"),
        ("a%%d", ["a%0"], "a%0"),  # Incus picks a taken name here; the caller's Conflict stops it
    ],
)
def test_next_snapshot_name(template: str, existing: list[str], name: str) -> None:
    assert pattern.next_snapshot_name(template, existing, T) == name


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("%d%d", "Snapshot pattern may contain '%d' only once"),
        ("snap%d-%d", "Snapshot pattern may contain '%d' only once"),
        ("snap %d", "Invalid instance snapshot name: Cannot contain space or / characters"),
        ("{{ creation_date|date:'2006/01/02' }}", 'Invalid snapshot name: Cannot contain "/"'),
        ("a+%d", 'Invalid snapshot name: Cannot contain "+"'),
        ("{# only a comment #}", "Invalid snapshot name: Cannot be empty"),
    ],
)
def test_next_snapshot_name_rejects(template: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        pattern.next_snapshot_name(template, [], T)
    assert str(err.value) == message


@pytest.mark.parametrize(
    "template",
    ["", "snap%d", "daily", "auto-%d", "{{ creation_date|date:'2006-01-02_15-04-05' }}",
     'backup-{{ creation_date | date : "20060102" }}-%d'],
)
def test_validate_pattern_accepts(template: str) -> None:
    pattern.validate_pattern(template)


@pytest.mark.parametrize(
    "template",
    ["%d%d", "snap %d", "a/%d", "{% now %}", "{{ foo }}", "{{ creation_date }}", "{{ creation_date|date:'2006 01' }}"],
)
def test_validate_pattern_rejects(template: str) -> None:
    with pytest.raises(InvalidArgument):
        pattern.validate_pattern(template)
