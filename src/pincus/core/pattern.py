"""Snapshot name patterns (``snapshots.pattern``): the Pongo2 subset people use, Go date layouts,
and Incus's choice of the next free name.

Supported template syntax (Pongo2 as Incus renders it, with ``creation_date`` = now):

- plain text, including one ``%d``;
- ``{{ creation_date|date:'<Go layout>' }}``, with ``time`` as an alias of ``date``, single or
  double quotes, optional spaces around ``|`` and ``:``, and ``|lower`` / ``|upper`` after it;
- ``{# comments #}``.

Anything else (``{% tags %}``, other variables or filters) is refused with a clear message instead
of being rendered the way Pongo2 would (unknown variables as empty text, times with spaces).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, timezone

from pincus.base.errors import InvalidArgument
from pincus.base.gostr import GO_SPACES, go_quote
from pincus.core.names import validate_snapshot_name

DEFAULT_PATTERN = "snap%d"
TOO_MANY_PLACEHOLDERS = "Snapshot pattern may contain '%d' only once"
SUPPORTED = "supported: text, one %d, {{ creation_date|date:'<Go layout>' }} and {# comments #}"

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_FIXED_ZONE_NAME = re.compile(r"UTC([+-]\d\d:\d\d(:\d\d(\.\d+)?)?)?")
_ZERO_X = ("zero_month", "zero_day", "zero_hour12", "zero_minute", "zero_second", "year")
_NUM_TZ = ("-070000", "-07:00:00", "-0700", "-07:00", "-07")
_ISO_TZ = ("Z070000", "Z07:00:00", "Z0700", "Z07:00", "Z07")
_MAX_NESTING = 16
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMBER = re.compile(r"[+-]?[0-9]+")


def _is_digit(text: str, i: int) -> bool:
    return i < len(text) and "0" <= text[i] <= "9"


def _token_at(layout: str, i: int) -> tuple[str, int] | None:
    """The Go layout token starting at ``i`` and its length (time.nextStdChunk)."""
    rest = layout[i:]
    c = rest[0]
    if c == "J" and rest.startswith("Jan"):
        if rest.startswith("January"):
            return "January", 7
        if not rest[3:4].islower() or not rest[3:4].isascii():
            return "Jan", 3
    elif c == "M":
        if rest.startswith("Monday"):
            return "Monday", 6
        if rest.startswith("Mon") and (not rest[3:4].islower() or not rest[3:4].isascii()):
            return "Mon", 3
        if rest.startswith("MST"):
            return "MST", 3
    elif c == "0":
        if len(rest) >= 2 and "1" <= rest[1] <= "6":
            return _ZERO_X[int(rest[1]) - 1], 2
        if rest.startswith("002"):
            return "zero_yday", 3
    elif c == "1":
        return ("hour", 2) if rest.startswith("15") else ("num_month", 1)
    elif c == "2":
        return ("long_year", 4) if rest.startswith("2006") else ("day", 1)
    elif c == "_":
        if rest.startswith("_2"):
            return ("_long_year", 5) if rest.startswith("_2006") else ("under_day", 2)
        if rest.startswith("__2"):
            return "under_yday", 3
    elif c in "345":
        return {"3": "hour12", "4": "minute", "5": "second"}[c], 1
    elif c == "P" and rest.startswith("PM"):
        return "PM", 2
    elif c == "p" and rest.startswith("pm"):
        return "pm", 2
    elif c in "-Z":
        for tok in _NUM_TZ if c == "-" else _ISO_TZ:
            if rest.startswith(tok):
                return tok, len(tok)
    elif c in ".," and len(rest) > 1 and rest[1] in "09":
        j = 1
        while j < len(rest) and rest[j] == rest[1]:
            j += 1
        if not _is_digit(rest, j):
            return f"{c}{rest[1]}", j
    return None


def _zone_name(dt: datetime) -> str:
    name = dt.tzname() or ""
    # An unnamed datetime.timezone calls itself "UTC+02:00"; Go prints those numerically.
    return "" if _FIXED_ZONE_NAME.fullmatch(name) and name != "UTC" else name


def _zone(dt: datetime, token: str) -> str:
    utcoffset = dt.utcoffset()
    offset = int(utcoffset.total_seconds()) if utcoffset is not None else 0
    if token == "MST":
        name = _zone_name(dt)
        if name:
            return name
        token = "-0700"
    if token.startswith("Z") and offset == 0:
        return "Z"
    minutes = abs(offset) // 60
    sign = "-" if offset < 0 and minutes else "+"
    colon = ":" if ":" in token else ""
    out = f"{sign}{minutes // 60:02d}"
    if token[1:] != "07":
        out += f"{colon}{minutes % 60:02d}"
    if token[1:] in ("070000", "07:00:00"):
        out += f"{colon}{abs(offset) % 60:02d}"
    return out


def _value(dt: datetime, token: str, digits: int) -> str:
    hour12 = dt.hour % 12 or 12
    yday = dt.timetuple().tm_yday
    simple = {
        "year": f"{dt.year % 100:02d}", "long_year": f"{dt.year:04d}", "_long_year": f"_{dt.year:04d}",
        "Jan": _MONTHS[dt.month - 1][:3], "January": _MONTHS[dt.month - 1],
        "num_month": str(dt.month), "zero_month": f"{dt.month:02d}",
        "Mon": _DAYS[(dt.weekday() + 1) % 7][:3], "Monday": _DAYS[(dt.weekday() + 1) % 7],
        "day": str(dt.day), "under_day": f"{dt.day:>2d}", "zero_day": f"{dt.day:02d}",
        "under_yday": f"{yday:>3d}", "zero_yday": f"{yday:03d}",
        "hour": f"{dt.hour:02d}", "hour12": str(hour12), "zero_hour12": f"{hour12:02d}",
        "minute": str(dt.minute), "zero_minute": f"{dt.minute:02d}",
        "second": str(dt.second), "zero_second": f"{dt.second:02d}",
        "PM": "PM" if dt.hour >= 12 else "AM", "pm": "pm" if dt.hour >= 12 else "am",
    }
    if token in simple:
        return simple[token]
    if token[0] in ".,":
        nanos = f"{dt.microsecond:06d}000"[: min(digits, 9)]
        if token[1] == "9":
            nanos = nanos.rstrip("0")
        return token[0] + nanos if nanos else ""
    return _zone(dt, token)


def go_format(dt: datetime, layout: str) -> str:
    """Format an aware datetime with a Go reference-time layout (``2006-01-02 15:04:05``)."""
    out: list[str] = []
    i = 0
    while i < len(layout):
        found = _token_at(layout, i)
        if found is None:
            out.append(layout[i])
            i += 1
            continue
        token, length = found
        out.append(_value(dt, token, length - 1))
        i += length
    return "".join(out)


DateFormatter = Callable[[datetime, str], str]


class _Tag:
    """A cursor over the inside of one ``{{ ... }}`` tag."""

    def __init__(self, pattern: str, pos: int) -> None:
        self.pattern = pattern
        self.pos = pos

    def fail(self, reason: str) -> InvalidArgument:
        """The error to raise for this pattern."""
        return InvalidArgument(f"Invalid snapshot pattern {go_quote(self.pattern)}: {reason} ({SUPPORTED})")

    def skip_space(self) -> None:
        """Skip white space between tokens, as Pongo2's lexer does."""
        while self.pos < len(self.pattern) and self.pattern[self.pos] in " \t\r\n":
            self.pos += 1

    def take(self, symbol: str) -> bool:
        """Consume ``symbol`` if it comes next."""
        self.skip_space()
        if self.pattern.startswith(symbol, self.pos):
            self.pos += len(symbol)
            return True
        return False

    def name(self) -> str:
        """Consume a variable or filter name."""
        self.skip_space()
        match = _NAME.match(self.pattern, self.pos)
        if match is None:
            raise self.fail(f"expected a name at offset {self.pos}")
        self.pos = match.end()
        return match.group()

    def string(self) -> str:
        """Consume a quoted string; Pongo2 knows only the escapes \\" and \\\\."""
        self.skip_space()
        quote = self.pattern[self.pos : self.pos + 1]
        if quote not in ("'", '"'):
            raise self.fail("the date filter needs a quoted Go layout, e.g. date:'2006-01-02'")
        end = self.pos + 1
        while True:
            if end >= len(self.pattern) or self.pattern[end] == "\n":
                raise self.fail("string not closed")
            char = self.pattern[end]
            if char == quote:
                break
            if char == "\\":
                if self.pattern[end + 1 : end + 2] not in ('"', "\\"):
                    raise self.fail(f"unknown escape sequence in string at offset {end}")
                end += 1
            end += 1
        raw = self.pattern[self.pos + 1 : end]
        self.pos = end + 1
        # Pongo2 unescapes in this order, whatever the quote.
        return raw.replace('\\"', '"').replace("\\\\", "\\")


def _render_tag(tag: _Tag, creation_date: datetime, date_fmt: DateFormatter = go_format) -> str:
    """Render the expression of one ``{{ }}`` tag; ``tag.pos`` ends after ``}}``."""
    if tag.pattern.startswith("-", tag.pos):
        raise tag.fail("whitespace control ({{- -}}) is not supported")
    variable = tag.name()
    if variable != "creation_date":
        raise tag.fail(f"unknown variable {go_quote(variable)}")
    value: str | datetime = creation_date
    while tag.take("|"):
        flt = tag.name()
        if flt in ("date", "time"):
            if not tag.take(":"):
                raise tag.fail(f"the {flt} filter needs a Go layout argument, e.g. {flt}:'2006-01-02'")
            layout = tag.string()
            if not isinstance(value, datetime):
                raise tag.fail(f"the {flt} filter applies to creation_date only")
            value = date_fmt(value, layout)
        elif flt in ("lower", "upper") and isinstance(value, str):
            value = value.lower() if flt == "lower" else value.upper()
        else:
            raise tag.fail(f"unsupported filter {go_quote(flt)}")
    if isinstance(value, datetime):
        raise tag.fail("format creation_date with the date filter, e.g. {{ creation_date|date:'2006-01-02' }}")
    if not tag.take("}}"):
        raise tag.fail(f"expected '}}}}' at offset {tag.pos}")
    return value


def _render_once(pattern: str, creation_date: datetime, date_fmt: DateFormatter = go_format) -> str:
    out: list[str] = []
    pos = 0
    while True:
        start = min((i for i in (pattern.find(t, pos) for t in ("{{", "{%", "{#")) if i >= 0), default=-1)
        if start < 0:
            out.append(pattern[pos:])
            return "".join(out)
        out.append(pattern[pos:start])
        opener = pattern[start : start + 2]
        if opener == "{%":
            raise _Tag(pattern, start).fail("template tags ({% ... %}) are not supported")
        if opener == "{#":
            end = pattern.find("#}", start + 2)
            if end < 0:
                raise _Tag(pattern, start).fail("comment not closed")
            pos = end + 2
            continue
        tag = _Tag(pattern, start + 2)
        out.append(_render_tag(tag, creation_date, date_fmt))
        pos = tag.pos


def render_pattern(pattern: str, creation_date: datetime) -> str:
    """Render a snapshot pattern with ``creation_date``; like Incus, render again while the result
    still holds ``{{`` or ``{%``."""
    if creation_date.tzinfo is None:
        raise ValueError("an aware datetime is required")
    rendered = pattern
    for _ in range(_MAX_NESTING):
        rendered = _render_once(rendered, creation_date)
        if "{{" not in rendered and "{%" not in rendered:
            return rendered
    raise InvalidArgument(f"Invalid snapshot pattern {go_quote(pattern)}: templates nested too deep")


def _scan_format(fmt: str) -> tuple[str, str] | None:
    """Split a Go scanf format into the literals around its single ``%d`` (``%%`` is a literal
    percent); None when Go's Sscanf could never fill exactly one integer from it."""
    parts: list[list[str]] = [[]]
    i = 0
    while i < len(fmt):
        if fmt[i] != "%":
            parts[-1].append(fmt[i])
            i += 1
            continue
        j = i + 1
        while j < len(fmt) and "0" <= fmt[j] <= "9":
            j += 1  # a width
        if j >= len(fmt):
            return None  # "missing verb: % at end of format string"
        if fmt[j] == "%":
            parts[-1].append("%")
        elif fmt[j] == "d" and len(parts) == 1 and j == i + 1:
            parts.append([])
        else:
            return None  # another verb: "too few operands"
        i = j + 1
    if len(parts) != 2:
        return None  # no verb: "too many operands"
    return "".join(parts[0]), "".join(parts[1])


def _scan_int(name: str, before: str, after: str) -> int | None:
    """Go's ``fmt.Sscanf(name, before + "%d" + after, &n)`` when it succeeds, else None."""
    if not name.startswith(before):
        return None
    pos = len(before)
    while pos < len(name) and name[pos] in GO_SPACES:
        if name[pos] == "\n":
            return None  # "unexpected newline"
        pos += 1
    match = _NUMBER.match(name, pos)
    if match is None:
        return None
    number = int(match.group())
    if not -(2**63) <= number < 2**63:
        return None  # strconv.ParseInt: value out of range
    # Literals after the number must all be there; extra input after them is ignored.
    return number if name.startswith(after, match.end()) else None


def next_snapshot_index(rendered: str, existing: Iterable[str]) -> int:
    """The number for ``%d`` in a rendered pattern: the highest number existing names carry at
    that place plus one, or 0 (Incus GetNextInstanceSnapshotIndex, which matches with Sscanf)."""
    head, _, tail = rendered.partition("%d")
    fmt = _scan_format(f"{head}%d{tail}")
    if fmt is None:
        return 0
    best = 0
    for name in existing:
        number = _scan_int(name, *fmt)
        if number is not None and number >= best:
            best = number + 1
    return best


def next_snapshot_name(pattern: str, existing_names: Iterable[str], now: datetime) -> str:
    """The name Incus gives the next snapshot: render the pattern (default ``snap%d``), fill ``%d``
    with the next index, or append ``-%d`` when the plain name is taken."""
    existing = list(existing_names)
    rendered = render_pattern(pattern or DEFAULT_PATTERN, now)
    count = rendered.count("%d")
    if count > 1:
        raise InvalidArgument(TOO_MANY_PLACEHOLDERS)
    if count == 0 and rendered in existing:
        rendered += "-%d"
        count = 1
    name = rendered
    if count == 1:
        name = rendered.replace("%d", str(next_snapshot_index(rendered, existing)), 1)
    validate_snapshot_name(name)
    return name


def validate_pattern(pattern: str) -> None:
    """Raise InvalidArgument unless ``pattern`` renders to a valid snapshot name (empty = default)."""
    if not pattern:
        return
    rendered = render_pattern(pattern, datetime(2006, 1, 2, 15, 4, 5, tzinfo=timezone.utc))
    if rendered.count("%d") > 1:
        raise InvalidArgument(TOO_MANY_PLACEHOLDERS)
    validate_snapshot_name(rendered.replace("%d", "0", 1))


# Recognising the names a pattern gives -------------------------------------------------------

_SLOT = "\x00"
_SLOT_SPLIT = re.compile("\x00([0-9]+)\x00")
_NAMES_RE = {
    "Jan": "|".join(m[:3] for m in _MONTHS), "January": "|".join(_MONTHS),
    "Mon": "|".join(d[:3] for d in _DAYS), "Monday": "|".join(_DAYS), "PM": "AM|PM", "pm": "AM|PM",
}
_TOKEN_RE = {
    "year": r"\d{2}", "long_year": r"\d{4}", "_long_year": r"_\d{4}", "num_month": r"\d{1,2}",
    "zero_month": r"\d{2}", "day": r"\d{1,2}", "under_day": r"[ \d]\d", "zero_day": r"\d{2}",
    "under_yday": r"[ \d]{2}\d", "zero_yday": r"\d{3}", "hour": r"\d{2}", "hour12": r"\d{1,2}",
    "zero_hour12": r"\d{2}", "minute": r"\d{1,2}", "zero_minute": r"\d{2}", "second": r"\d{1,2}",
    "zero_second": r"\d{2}", "MST": r"[A-Za-z0-9+-]+",
    "-070000": r"[+-]\d{6}", "-07:00:00": r"[+-]\d{2}:\d{2}:\d{2}", "-0700": r"[+-]\d{4}",
    "-07:00": r"[+-]\d{2}:\d{2}", "-07": r"[+-]\d{2}",
}


def _token_regex(token: str, digits: int) -> str:
    """The regex of every value ``_value`` can give for a layout token."""
    if token in _NAMES_RE:
        return f"(?i:{_NAMES_RE[token]})"  # |lower and |upper may have changed the case
    if token in _TOKEN_RE:
        return _TOKEN_RE[token]
    if token[0] == "Z":
        return f"(?:[Zz]|{_TOKEN_RE['-' + token[1:]]})"
    sep, digits = re.escape(token[0]), min(digits, 9)
    return f"{sep}\\d{{{digits}}}" if token[1] == "0" else f"(?:{sep}\\d{{1,{digits}}})?"


def _slot_layout(shapes: list[str]) -> DateFormatter:
    """A date formatter that leaves the layout's literal text and puts a numbered slot per token."""

    def fmt(_dt: datetime, layout: str) -> str:
        """The layout with each token replaced by its slot."""
        out: list[str] = []
        i = 0
        while i < len(layout):
            found = _token_at(layout, i)
            if found is None:
                out.append(layout[i])
                i += 1
                continue
            token, length = found
            shapes.append(_token_regex(token, length - 1))
            out.append(f"{_SLOT}{len(shapes) - 1}{_SLOT}")
            i += length
        return "".join(out)

    return fmt


def _literal_regex(text: str, shapes: list[str]) -> str:
    parts = _SLOT_SPLIT.split(text)
    return "".join(shapes[int(p)] if i % 2 else re.escape(p) for i, p in enumerate(parts))


def name_regex(pattern: str) -> re.Pattern[str] | None:
    """A regex that matches exactly the names ``next_snapshot_name`` can give with ``pattern`` at any
    date: each date layout token becomes the shape of its value, ``%d`` any number, and a pattern
    without ``%d`` may carry the ``-N`` Incus appends to a taken name. None when the pattern is
    invalid or renders templates again (nothing is then recognised)."""
    pattern = pattern or DEFAULT_PATTERN
    if _SLOT in pattern:
        return None
    shapes: list[str] = []
    try:
        rendered = _render_once(pattern, datetime(2006, 1, 2, tzinfo=timezone.utc), _slot_layout(shapes))
    except InvalidArgument:
        return None
    if "{{" in rendered or "{%" in rendered or rendered.count("%d") > 1:
        return None
    head, found, tail = rendered.partition("%d")
    if found:
        body = _literal_regex(head, shapes) + r"\d+" + _literal_regex(tail, shapes)
    else:
        body = _literal_regex(head, shapes) + r"(?:-\d+)?"
    return re.compile(body)


def made_by_pattern(pattern: str, name: str) -> bool:
    """Whether ``name`` has the shape of a name ``pattern`` gives (see ``name_regex``)."""
    regex = name_regex(pattern)
    return regex is not None and regex.fullmatch(name) is not None
