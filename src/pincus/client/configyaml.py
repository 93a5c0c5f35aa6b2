"""A strict reader for the YAML of the client's config.yml, without PyYAML.

Importing PyYAML costs 40-50 ms here, more than a whole ``pincus exec``. config.yml is written
by ``pincus remote`` (cli/goyaml.py) and by the incus client (yaml.v2): nested block mappings
of one-line scalars, ``{}`` for an empty map. This reader accepts that subset and returns what
``yaml.safe_load`` returns for it; anything else (comments, sequences, anchors, folded or
multi-line scalars, numbers other than plain decimals, timestamps ...) raises Unsupported, and
the caller falls back to PyYAML. ``re`` is not used either (another ~10 ms).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# YAML 1.1 plain scalars that PyYAML resolves to something other than a string
_BOOLS = {
    **dict.fromkeys(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
}
_NULLS = frozenset(("~", "null", "Null", "NULL"))
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
_NUMERIC_START = frozenset("0123456789+-.")
_DIGITS = frozenset("0123456789")
_ESCAPES = {
    "0": "\0", "a": "\a", "b": "\b", "t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r",
    "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0",
    "L": "\u2028", "P": "\u2029",
}  # fmt: skip
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


class Unsupported(ValueError):
    """The text uses YAML this reader does not handle (use a full YAML parser)."""


def loads(text: str) -> Any:
    """Parse ``text`` like ``yaml.safe_load`` would, or raise Unsupported."""
    root: dict[Any, Any] = {}
    stack: list[tuple[int, dict[Any, Any]]] = [(0, root)]
    open_key: tuple[int, dict[Any, Any], Any] | None = None  # a ``key:`` awaiting its block
    seen = False
    for line in text.split("\n"):
        content = line.lstrip(" ")
        if not content:
            continue
        if not line.isprintable() or line[-1] == " ":
            raise Unsupported("tab, control character or trailing space")
        indent = len(line) - len(content)
        if open_key is not None and indent > open_key[0]:
            child: dict[Any, Any] = {}
            open_key[1][open_key[2]] = child
            stack.append((indent, child))
        while indent < stack[-1][0]:
            stack.pop()
        if indent != stack[-1][0]:
            raise Unsupported("unexpected indentation")
        mapping = stack[-1][1]
        key, rest = _key(content)
        mapping[key] = None if rest is None else _value(rest)
        open_key = (indent, mapping, key) if rest is None else None
        seen = True
    return root if seen else None


def _key(content: str) -> tuple[Any, str | None]:
    """Split ``key: value`` into the resolved key and the value text (None for ``key:``)."""
    if content[0] in "'\"":
        key, end = _quoted(content)
        tail = content[end:]
    else:
        end = content.find(": ")
        if end < 0:
            if content[-1] != ":":
                raise Unsupported("not a mapping entry")
            end = len(content) - 1
        if end > 1024:
            raise Unsupported("simple keys are limited to 1024 characters")
        key = _plain(content[:end])
        tail = content[end:]
    if tail == ":":
        return key, None
    if tail[:2] != ": ":
        raise Unsupported("not a mapping entry")
    return key, tail[2:].lstrip(" ")


def _value(text: str) -> Any:
    if not text:
        raise Unsupported("empty value")
    if text == "{}":
        return {}
    if text == "[]":
        return []
    if text[0] in "'\"":
        value, end = _quoted(text)
        if end != len(text):
            raise Unsupported("text after a quoted scalar")
        return value
    return _plain(text)


def _plain(text: str) -> Any:
    """Resolve a plain scalar as PyYAML's SafeLoader does (for the forms accepted here)."""
    if not text or text[0] in _INDICATORS or text[-1] in ": " or ": " in text or " #" in text:
        raise Unsupported(f"plain scalar {text!r}")
    if text in _BOOLS:
        return _BOOLS[text]
    if text in _NULLS:
        return None
    if text[0] in _NUMERIC_START:
        if all(ch in _DIGITS for ch in text) and (text == "0" or text[0] != "0"):
            return int(text)
        raise Unsupported(f"number-like scalar {text!r}")  # floats, octal, sexagesimal, dates
    if text in ("<<", "="):
        raise Unsupported(f"special key {text!r}")
    return text


def _quoted(text: str) -> tuple[str, int]:
    """Parse a one-line quoted scalar at the start of ``text``; return it and the index past it."""
    if text[0] == "'":
        out, pos = [], 1
        while True:
            end = text.find("'", pos)
            if end < 0:
                raise Unsupported("unterminated single-quoted scalar")
            out.append(text[pos:end])
            if text[end + 1 : end + 2] != "'":
                return "".join(out), end + 1
            out.append("'")
            pos = end + 2
    out, pos = [], 1
    while pos < len(text):
        ch = text[pos]
        if ch == '"':
            return "".join(out), pos + 1
        if ch != "\\":
            out.append(ch)
            pos += 1
            continue
        code = text[pos + 1 : pos + 2]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            pos += 2
        elif code in _HEX_ESCAPES:
            digits = text[pos + 2 : pos + 2 + _HEX_ESCAPES[code]]
            if len(digits) != _HEX_ESCAPES[code] or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise Unsupported("bad escape")
            out.append(chr(int(digits, 16)))  # ValueError past U+10FFFF: callers fall back
            pos += 2 + len(digits)
        else:
            raise Unsupported("escape or line break in a double-quoted scalar")
    raise Unsupported("unterminated double-quoted scalar")
