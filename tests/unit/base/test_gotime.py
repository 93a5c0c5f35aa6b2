from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pincus.base.errors import InvalidArgument
from pincus.base.gotime import ZERO_TIME, format_time, parse_optional_time


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
