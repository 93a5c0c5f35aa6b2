"""Markers for Go value kinds that JSON and YAML output must render the way the Go client does."""

from __future__ import annotations


class GoMap(dict):  # type: ignore[type-arg]
    """A Go map: JSON sorts keys bytewise, yaml.v2 sorts them with its own key order."""


class GoTime(str):
    """A time.Time rendered as RFC 3339 (plain in YAML, never quoted)."""


class _Nil:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NIL_MAP = _Nil("NIL_MAP")  # a nil map: JSON null, YAML {}
NIL_LIST = _Nil("NIL_LIST")  # a nil slice: JSON null, YAML []
