"""Output rendering identical to the incus client: tables (olekukonko/tablewriter v0.0.5),
compact, CSV (encoding/csv), JSON (encoding/json), YAML (yaml.v2), markdown, dates and sizes."""

from __future__ import annotations

import time

from pincus.cli.flags import FlagError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

FORMATS = ("csv", "json", "table", "yaml", "compact", "markdown")
DATE_LAYOUT = "%Y/%m/%d %H:%M"


class FormatError(FlagError):
    """An invalid --format value (a FlagError, so app.py need not import this module to report it)."""


def validate_format(value: str) -> None:
    """Check a ``--format`` value (with optional ``,header``/``,noheader`` modifiers)."""
    fmt, sep, rest = value.partition(",")
    if sep:
        for option in rest.split(","):
            if option not in ("noheader", "header", ""):
                raise FormatError(f'Invalid modifier "{option}" on flag "--format" ("{value}")')
    if fmt not in FORMATS:
        raise FormatError(f'Invalid value "{fmt}" for flag "--format"')


# --- dates and sizes ---------------------------------------------------------------------------


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_time(text: Any) -> float | None:
    """Seconds since the epoch for an RFC 3339 timestamp; None for Go's zero time or garbage."""
    if not isinstance(text, str) or len(text) < 19:
        return None
    try:
        year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
        hour, minute, sec = int(text[11:13]), int(text[14:16]), int(text[17:19])
    except ValueError:
        return None
    if year == 1 and month == 1 and day == 1 and hour == 0 and minute == 0 and sec == 0:
        return None
    rest = text[19:]
    frac = 0.0
    if rest.startswith("."):
        end = 1
        while end < len(rest) and rest[end].isdigit():
            end += 1
        frac = float("0" + rest[:end])
        rest = rest[end:]
    offset = 0
    if rest[:1] in ("+", "-") and len(rest) >= 6:
        offset = (int(rest[1:3]) * 3600 + int(rest[4:6]) * 60) * (1 if rest[0] == "+" else -1)
    return days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + sec + frac - offset


def fmt_date(text: Any) -> str:
    """``2006/01/02 15:04 MST`` in local time, as incus prints dates in tables; "" for zero."""
    epoch = parse_time(text)
    if epoch is None:
        return ""
    local = time.localtime(int(epoch // 1))
    return f"{time.strftime(DATE_LAYOUT, local)} {local.tm_zone}"


# --- sorting -----------------------------------------------------------------------------------


def natural_less(a: str, b: str) -> bool:
    """fvbommel/sortorder.NaturalLess over UTF-8 bytes."""
    s1, s2 = a.encode("utf-8"), b.encode("utf-8")
    i = j = 0
    while i < len(s1) and j < len(s2):
        c1, c2 = s1[i], s2[j]
        d1, d2 = 48 <= c1 <= 57, 48 <= c2 <= 57
        if d1 != d2:
            return d1
        if not d1:
            if c1 != c2:
                return c1 < c2
            i += 1
            j += 1
            continue
        while i < len(s1) and s1[i] == 48:
            i += 1
        while j < len(s2) and s2[j] == 48:
            j += 1
        nz1, nz2 = i, j
        while i < len(s1) and 48 <= s1[i] <= 57:
            i += 1
        while j < len(s2) and 48 <= s2[j] <= 57:
            j += 1
        if i - nz1 != j - nz2:
            return i - nz1 < j - nz2
        if s1[nz1:i] != s2[nz2:j]:
            return s1[nz1:i] < s2[nz2:j]
        if nz1 != nz2:
            return nz1 < nz2
    return len(s1) < len(s2)


def natural_key(text: str) -> tuple[tuple[object, ...], ...]:
    """A sort key ordering strings like natural_less (digit runs numerically, leading zeros last)."""
    data = text.encode("utf-8")
    chunks: list[tuple[object, ...]] = []
    i = 0
    while i < len(data):
        start = i
        if 48 <= data[i] <= 57:
            while i < len(data) and 48 <= data[i] <= 57:
                i += 1
            digits = data[start:i]
            significant = digits.lstrip(b"0")
            chunks.append((0, len(significant), significant, len(digits) - len(significant)))
        else:
            while i < len(data) and not 48 <= data[i] <= 57:
                i += 1
            chunks.append((1, data[start:i]))
    return tuple(chunks)


def sort_rows(rows: list[list[str]]) -> list[list[str]]:
    """cli.SortColumnsNaturally: column by column, natural order, empty cells last."""
    return sorted(rows, key=lambda row: [(0, natural_key(v)) if v else (1,) for v in row])


# --- tablewriter -------------------------------------------------------------------------------


def display_width(text: str) -> int:
    """go-runewidth StringWidth (wide East Asian characters count 2, combining marks 0)."""
    if text.isascii():
        return len(text)
    import unicodedata

    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def title(name: str) -> str:
    """tablewriter.Title: header auto-format (``_`` and non-numeric ``.`` become spaces, upper case)."""
    chars = list(name)
    for i, ch in enumerate(chars):
        if ch == "_":
            chars[i] = " "
        elif ch == ".":
            before = chars[i - 1] if i else ""
            after = chars[i + 1] if i + 1 < len(chars) else ""
            if (i != 0 and not (before.isdigit() or before == " ")) or (
                i != len(chars) - 1 and not (after.isdigit() or after == " ")
            ):
                chars[i] = " "
    out = "".join(chars).strip()
    if not out and name:
        out = " "
    return out.upper()


def _center(text: str, width: int) -> str:
    gap = width - display_width(text)
    if gap <= 0:
        return text
    left = gap // 2
    return " " * left + text + " " * (gap - left)


def _left(text: str, width: int) -> str:
    gap = width - display_width(text)
    return text + " " * gap if gap > 0 else text


def tablewriter(header: list[str] | None, rows: list[list[str]], compact: bool = False) -> str:
    """Render like incus' table (borders, row lines) or compact format."""
    heads = [h.split("\n") for h in header or []]
    cells = [[c.split("\n") for c in row] for row in rows]
    widths: dict[int, int] = {}
    for line_sets in [heads, *cells]:
        for col, lines in enumerate(line_sets):
            widths[col] = max(widths.get(col, 0), *(display_width(x) for x in lines))
    ncols = len(widths)
    sep, edge = ("", " ") if compact else ("|", "|")
    rule = "" if compact else "+" + "".join("-" * (widths[c] + 2) + "+" for c in range(ncols)) + "\n"
    out = [rule]
    if heads:
        height = max(len(h) for h in heads)
        for x in range(height):
            line = edge if not compact else " "
            for y in range(ncols):
                text = heads[y][x] if y < len(heads) and x < len(heads[y]) else ""
                pad = " " if (compact and y == ncols - 1) else sep
                line += " " + _center(title(text), widths[y]) + " " + pad
            out.append(line + "\n")
        out.append(rule)
    for row in cells:
        height = max((len(c) for c in row), default=1)
        for x in range(height):
            line = ""
            for y, lines in enumerate(row):
                text = lines[x] if x < len(lines) else "  "
                line += (" " if compact and y == 0 else sep) + " " + _left(text, widths[y]) + " "
            out.append(line + edge + "\n")
        out.append(rule)
    return "".join(out)


def markdown(header: list[str] | None, rows: list[list[str]]) -> str:
    """Markdown table as incus >= 6.0.5 prints it (tablewriter v1 markdown renderer)."""
    ncols = max([len(header or [])] + [len(r) for r in rows]) if (header or rows) else 0
    widths = [0] * ncols
    for row in [header or [], *rows]:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], display_width(cell.replace("\n", " ")))
    widths = [max(w + 2, 3) for w in widths]
    out = []
    if header:
        cells = [_center(h, widths[i]) for i, h in enumerate(header)]
        out.append("|" + "|".join(cells) + "|")
        out.append("|" + "|".join(":" + "-" * (w - 2) + ":" for w in widths) + "|")
    for row in rows:
        cells = [_left(" " + c.replace("\n", " "), widths[i]) for i, c in enumerate(row)]
        out.append("|" + "|".join(cells) + "|")
    return "".join(line + "\n" for line in out)


def csv_text(rows: list[list[str]], header: list[str] | None = None) -> str:
    """encoding/csv Writer output (LF line endings)."""
    lines = [header] if header else []
    lines += rows
    return "".join(",".join(_csv_field(f) for f in line) + "\n" for line in lines)


def _csv_field(field: str) -> str:
    if field == "":
        return field
    needs = field == "\\." or any(ch in field for ch in ',"\r\n') or field[0] in " \t\n\r\v\f\u0085\u00a0"
    if not needs:
        return field
    return '"' + field.replace('"', '""') + '"'


def render(fmt: str, header: list[str], rows: list[list[str]], raw: Callable[[], Any] | None = None) -> str:
    """cli.RenderTable: ``raw`` returns the Go-shaped tree for json/yaml."""
    name, _, rest = fmt.partition(",")
    options = rest.split(",") if rest else []
    head: list[str] | None = None if "noheader" in options else header
    if name == "table":
        return tablewriter(head, rows)
    if name == "compact":
        return tablewriter(head, rows, compact=True)
    if name == "markdown":
        return markdown(head, rows)
    if name == "csv":
        return csv_text(rows, header if "header" in options else None)
    if name == "json":
        from pincus.cli.schema import json_tree
        from pincus.client import codec

        return codec.dumps(json_tree(raw() if raw else None)) + "\n"
    if name == "yaml":
        from pincus.cli import goyaml

        return goyaml.dump(raw() if raw else None)
    raise FormatError(f'Invalid format "{name}"')
