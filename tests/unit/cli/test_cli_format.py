"""Table, compact, CSV, markdown, JSON rendering; dates, sizes and natural sorting."""

from __future__ import annotations

import itertools
import time

import pytest

from pincus.base.sizes import byte_size, byte_size_iec
from pincus.cli.format import (
    FormatError,
    csv_text,
    fmt_date,
    markdown,
    natural_key,
    natural_less,
    parse_time,
    render,
    sort_rows,
    tablewriter,
    title,
    validate_format,
)

HEADER = ["NAME", "STATE", "IPV4", "IPV6", "TYPE", "SNAPSHOTS"]
ROWS = [["c1", "RUNNING", "", "", "CONTAINER", "2"], ["longer-name", "STOPPED", "", "", "CONTAINER", "0"]]


def test_table_matches_incus_layout() -> None:
    expected = (
        "+-------------+---------+------+------+-----------+-----------+\n"
        "|    NAME     |  STATE  | IPV4 | IPV6 |   TYPE    | SNAPSHOTS |\n"
        "+-------------+---------+------+------+-----------+-----------+\n"
        "| c1          | RUNNING |      |      | CONTAINER | 2         |\n"
        "+-------------+---------+------+------+-----------+-----------+\n"
        "| longer-name | STOPPED |      |      | CONTAINER | 0         |\n"
        "+-------------+---------+------+------+-----------+-----------+\n"
    )
    assert tablewriter(HEADER, ROWS) == expected


def test_compact_matches_incus_layout() -> None:
    expected = (
        "     NAME       STATE   IPV4  IPV6    TYPE     SNAPSHOTS  \n"
        "  c1           RUNNING              CONTAINER  2          \n"
        "  longer-name  STOPPED              CONTAINER  0          \n"
    )
    assert tablewriter(HEADER, ROWS, compact=True) == expected


def test_table_without_rows_and_multiline_cells() -> None:
    assert tablewriter(["A"], []) == "+---+\n| A |\n+---+\n"
    out = tablewriter(["NAME", "PROFILES"], [["c1", "default\nextra"]])
    assert "| c1   | default  |\n|      | extra    |\n" in out


def test_noheader_option() -> None:
    out = render("table,noheader", ["NAME"], [["c1"]])
    assert out == "+----+\n| c1 |\n+----+\n"


def test_title_auto_format() -> None:
    assert title("Taken at") == "TAKEN AT"
    assert title("user.comment") == "USER COMMENT"
    assert title("limits_cpu") == "LIMITS CPU"
    assert title("1.5") == "1.5"


def test_csv_quoting_like_go() -> None:
    assert csv_text([["a", "b,c", 'q"x', " lead", ""]]) == 'a,"b,c","q""x"," lead",\n'
    assert csv_text([["x"]], header=["H"]) == "H\nx\n"


def test_markdown() -> None:
    out = markdown(["NAME", "STATE"], [["c1", "RUNNING"]])
    assert out == "| NAME |  STATE  |\n|:----:|:-------:|\n| c1   | RUNNING |\n"


def test_json_render_is_go_compact() -> None:
    out = render("json", [], [], lambda: [{"name": "a<b", "n": 1}])
    assert out == '[{"name":"a\\u003cb","n":1}]\n'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("foo", 'Invalid value "foo" for flag "--format"'),
        ("csv,bogus", 'Invalid modifier "bogus" on flag "--format" ("csv,bogus")'),
    ],
)
def test_validate_format(value: str, message: str) -> None:
    with pytest.raises(FormatError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        validate_format(value)
    validate_format("csv,header")
    validate_format("markdown")


def test_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    assert fmt_date("2026-11-26T07:15:42.857533869Z") == "2026/11/26 07:15 UTC"
    assert fmt_date("0001-01-01T00:00:00Z") == ""
    assert fmt_date("1970-01-01T00:00:00Z") == "1970/01/01 00:00 UTC"
    assert fmt_date("2026-11-26T08:15:00+01:00") == "2026/11/26 07:15 UTC"
    monkeypatch.setenv("TZ", "Europe/Rome")
    time.tzset()
    assert fmt_date("2026-07-01T10:00:00Z") == "2026/07/01 12:00 CEST"
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    assert parse_time("garbage") is None


def test_byte_sizes() -> None:
    assert byte_size_iec(1023) == "1023B"
    assert byte_size_iec(847872) == "828.00KiB"
    assert byte_size_iec(3 * 1024**3) == "3.00GiB"
    assert byte_size(999) == "999B"
    assert byte_size(1500) == "1.50kB"


def test_natural_sort_matches_sortorder() -> None:
    values = [
        "a",
        "ab",
        "ab1",
        "abc",
        "a01",
        "a1",
        "a001",
        "a2",
        "a10",
        "1",
        "01",
        "10",
        "x9y",
        "x10y",
        "",
        "é",
    ]
    for a, b in itertools.product(values, values):
        assert natural_less(a, b) == (natural_key(a) < natural_key(b)), (a, b)
    assert sort_rows([["c10"], ["c9"], ["c1"]]) == [["c1"], ["c9"], ["c10"]]


def test_sort_rows_puts_empty_cells_last() -> None:
    assert sort_rows([["a", ""], ["a", "x"], ["", "y"]]) == [["a", "x"], ["a", ""], ["", "y"]]
