"""The Pongo2 subset snapshot patterns use, rendered as Incus renders it (``creation_date`` = now).

Supported template syntax:

- plain text, including one ``%d``;
- ``{{ creation_date|date:'<Go layout>' }}``, with ``time`` as an alias of ``date``, single or
  double quotes, optional spaces around ``|`` and ``:``, and ``|lower`` / ``|upper`` after it;
- ``{# comments #}``.

Anything else (``{% tags %}``, other variables or filters) is refused with a clear message instead
of being rendered the way Pongo2 would (unknown variables as empty text, times with spaces).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from pincus.base.errors import InvalidArgument
from pincus.base.gostr import go_quote
from pincus.core.golayout import go_format

SUPPORTED = "supported: text, one %d, {{ creation_date|date:'<Go layout>' }} and {# comments #}"

_MAX_NESTING = 16
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")

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


def render_once(pattern: str, creation_date: datetime, date_fmt: DateFormatter = go_format) -> str:
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
        rendered = render_once(rendered, creation_date)
        if "{{" not in rendered and "{%" not in rendered:
            return rendered
    raise InvalidArgument(f"Invalid snapshot pattern {go_quote(pattern)}: templates nested too deep")
