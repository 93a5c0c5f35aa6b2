"""The ?filter= expressions of list endpoints: ``field eq value``, ``ne``, ``and``, ``or``, ``not``.

Fields are JSON paths into the listed object (``name``, ``status``, ``config.user.foo``,
``expanded_config.snapshots.schedule``); string values compare case-insensitively, as Incus.
"""

from __future__ import annotations

import shlex
from typing import Any

from pincus.base.errors import InvalidArgument

_OPS = {"eq", "ne"}


def _lookup(obj: Any, field: str) -> Any:
    """The value at a dotted path; config keys themselves contain dots, so match the longest key."""
    if not isinstance(obj, dict) or not field:
        return obj
    if field in obj:
        return obj[field]
    for cut in range(len(field), 0, -1):
        key = field[:cut]
        if key in obj and (cut == len(field) or field[cut] == "."):
            return _lookup(obj[key], field[cut + 1:])
    return None


def _matches(obj: dict[str, Any], field: str, op: str, value: str) -> bool:
    found = _lookup(obj, field)
    equal = ("" if found is None else str(found)).lower() == value.lower()
    return equal if op == "eq" else not equal


def parse(expr: str) -> list[list[tuple[bool, str, str, str]]]:
    """An expression as OR-groups of AND-terms (negated, field, op, value)."""
    try:
        tokens = shlex.split(expr)
    except ValueError as exc:
        raise InvalidArgument(f"Invalid filter: {exc}") from None
    groups: list[list[tuple[bool, str, str, str]]] = [[]]
    i = 0
    while i < len(tokens):
        negate = tokens[i].lower() == "not"
        i += negate
        if i + 3 > len(tokens):
            raise InvalidArgument(f'Invalid filter: incomplete expression near "{" ".join(tokens[i:])}"')
        field, op, value = tokens[i], tokens[i + 1].lower(), tokens[i + 2]
        if op not in _OPS:
            raise InvalidArgument(f'Invalid filter: unsupported operator "{op}"')
        groups[-1].append((negate, field, op, value))
        i += 3
        if i < len(tokens):
            joiner = tokens[i].lower()
            if joiner == "or":
                groups.append([])
            elif joiner != "and":
                raise InvalidArgument(f'Invalid filter: expected "and" or "or", got "{tokens[i]}"')
            i += 1
    return [g for g in groups if g]


def apply(expr: str, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects the filter selects (all of them for an empty filter)."""
    if not expr.strip():
        return objects
    groups = parse(expr)
    return [o for o in objects
            if any(all(_matches(o, f, op, v) != neg for neg, f, op, v in g) for g in groups)]
