"""Snapshot names from patterns (``snapshots.pattern``): Incus's choice of the next free name, the
check of a pattern, and the recognition of the names a pattern gives. The template language is in
``pongo``, the Go date layouts in ``golayout``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timezone

from pincus.base.errors import InvalidArgument
from pincus.base.gostr import GO_SPACES
from pincus.core.golayout import map_layout, token_regex
from pincus.core.names import validate_snapshot_name
from pincus.core.pongo import DateFormatter, render_once, render_pattern

DEFAULT_PATTERN = "snap%d"
TOO_MANY_PLACEHOLDERS = "Snapshot pattern may contain '%d' only once"

_NUMBER = re.compile(r"[+-]?[0-9]+")


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


def _slot_layout(shapes: list[str]) -> DateFormatter:
    """A date formatter that leaves the layout's literal text and puts a numbered slot per token."""

    def fmt(_dt: datetime, layout: str) -> str:
        """The layout with each token replaced by its slot."""

        def slot(token: str, width: int) -> str:
            shapes.append(token_regex(token, width))
            return f"{_SLOT}{len(shapes) - 1}{_SLOT}"

        return map_layout(layout, slot)

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
        rendered = render_once(pattern, datetime(2006, 1, 2, tzinfo=timezone.utc), _slot_layout(shapes))
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
