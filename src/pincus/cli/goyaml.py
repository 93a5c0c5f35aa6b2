"""YAML output byte-identical to gopkg.in/yaml.v2 (v2.4.0), which the incus client uses.

A port of the parts of libyaml's emitter that block-style output needs: scalar analysis and
style selection, plain/single/double/literal writers with yaml.v2's 80-column folding,
indentless sequences inside mappings, and flow ``{}``/``[]`` for empty collections. Structs
are plain dicts (kept in order); Go maps are GoMap (sorted like yaml.v2's keyList).
"""

from __future__ import annotations

import re
from functools import cmp_to_key

from pincus.cli.gotypes import NIL_LIST, NIL_MAP, GoMap, GoTime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

BEST_INDENT = 2
BEST_WIDTH = 80
_BASE60 = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_RESOLVE_MAP = {
    **dict.fromkeys(["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"], "bool"),
    **dict.fromkeys(["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"], "bool"),
    **dict.fromkeys(["", "~", "null", "Null", "NULL"], "null"),
    **dict.fromkeys([".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"], "float"),
    **dict.fromkeys(["-.inf", "-.Inf", "-.INF"], "float"),
    "<<": "merge",
}


def dump(value: Any) -> str:
    """Marshal ``value`` like yaml.v2's ``yaml.Marshal``."""
    emitter = _Emitter()
    emitter.node(value, root=True)
    emitter.write_indent()  # document end
    return "".join(emitter.out)


# --- scalar resolution (yaml.v2 resolve.go) -------------------------------------------------


def _go_parse_int(text: str) -> bool:
    """Would Go's strconv.ParseInt(text, 0, 64) or ParseUint succeed?"""
    body = text[1:] if text[:1] in "+-" else text
    if not body:
        return False
    base, digits = 10, body
    low = body[:2].lower()
    if low == "0x":
        base, digits = 16, body[2:]
    elif low == "0o":
        base, digits = 8, body[2:]
    elif low == "0b":
        base, digits = 2, body[2:]
    elif body[0] == "0" and len(body) > 1:
        base, digits = 8, body[1:]
    if not digits:
        return False
    try:
        value = int(digits, base)
    except ValueError:
        return False
    if "_" in digits or " " in digits:
        return False
    if text.startswith("-"):
        return value <= 1 << 63
    return value < 1 << 64


def _is_timestamp(text: str) -> bool:
    if len(text) < 6 or not text[:4].isdigit() or text[4] != "-":
        return False
    date, sep, clock = text, "", ""
    for mark in ("T", "t", " "):
        if mark in text:
            date, clock = text.split(mark, 1)
            sep = mark
            break
    parts = date.split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts) or len(parts[0]) != 4:
        return False
    if not (1 <= len(parts[1]) <= 2 and 1 <= len(parts[2]) <= 2):
        return False
    if not (1 <= int(parts[1]) <= 12 and 1 <= int(parts[2]) <= 31):
        return False
    if not sep:
        return True
    zone = ""
    if sep in "Tt":
        for i, ch in enumerate(clock):
            if ch in "Z+-":
                clock, zone = clock[:i], clock[i:]
                break
        if not zone:
            return False
        if zone != "Z" and not (
            len(zone) == 6 and zone[1:3].isdigit() and zone[3] == ":" and zone[4:].isdigit()
        ):
            return False
    hms = clock.split(":")
    if len(hms) != 3:
        return False
    sec, _, frac = hms[2].partition(".")
    fields = [hms[0], hms[1], sec]
    if not all(f.isdigit() and 1 <= len(f) <= 2 for f in fields) or (frac and not frac.isdigit()):
        return False
    return int(hms[0]) < 24 and int(hms[1]) < 60 and int(sec) < 60


def resolves_to_string(text: str) -> bool:
    """True if ``text`` written plain would read back as a string (yaml.v2 resolve())."""
    if not text:
        return False
    hint = text[0]
    if hint not in "+-0123456789yYnNtTfFoO~.":
        return True
    if text in _RESOLVE_MAP:
        return False
    if hint == ".":
        try:
            float(text)
        except ValueError:
            return True
        return False
    if hint in "+-0123456789":
        if _is_timestamp(text):
            return False
        plain = text.replace("_", "")
        if _go_parse_int(plain) or _YAML_FLOAT.match(plain):
            return False
        if plain.startswith(("0b", "-0b")):
            try:
                int(plain.replace("0b", "", 1), 2)
                return False
            except ValueError:
                return True
    return True


# --- scalar analysis (libyaml yaml_emitter_analyze_scalar) -----------------------------------

_BREAKS = "\r\n\x85\u2028\u2029"


def _printable(ch: str) -> bool:
    code = ord(ch)
    return (
        code == 0x0A
        or 0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
    )


class _Analysis:
    __slots__ = ("multiline", "flow_plain", "block_plain", "single_quoted", "block")

    def __init__(self, text: str) -> None:
        self.multiline = False
        self.flow_plain = self.block_plain = self.single_quoted = self.block = True
        if not text:
            self.flow_plain, self.block = False, False
            return
        flags = _scan(text)
        self.multiline = flags["line_breaks"]
        if (
            flags["leading_space"]
            or flags["leading_break"]
            or flags["trailing_space"]
            or flags["trailing_break"]
        ):
            self.flow_plain = self.block_plain = False
        if flags["trailing_space"]:
            self.block = False
        if flags["break_space"]:
            self.flow_plain = self.block_plain = self.single_quoted = False
        if flags["space_break"] or flags["special"]:
            self.flow_plain = self.block_plain = self.single_quoted = self.block = False
        if flags["line_breaks"]:
            self.flow_plain = self.block_plain = False
        if flags["flow_ind"]:
            self.flow_plain = False
        if flags["block_ind"]:
            self.block_plain = False


def _scan(text: str) -> dict[str, bool]:
    f = dict.fromkeys(
        ["block_ind", "flow_ind", "line_breaks", "special", "leading_space", "leading_break",
         "trailing_space", "trailing_break", "break_space", "space_break"], False)  # fmt: skip
    if text.startswith(("---", "...")):
        f["block_ind"] = f["flow_ind"] = True
    preceded_ws, prev_space, prev_break = True, False, False
    last = len(text) - 1
    for i, ch in enumerate(text):
        followed_ws = i == last or text[i + 1] in " \t"
        if i == 0:
            if ch in "#,[]{}&*!|>'\"%@`":
                f["flow_ind"] = f["block_ind"] = True
            elif ch in "?:":
                f["flow_ind"] = True
                f["block_ind"] = f["block_ind"] or followed_ws
            elif ch == "-" and followed_ws:
                f["flow_ind"] = f["block_ind"] = True
        else:
            if ch in ",?[]{}":
                f["flow_ind"] = True
            elif ch == ":":
                f["flow_ind"] = True
                f["block_ind"] = f["block_ind"] or followed_ws
            elif ch == "#" and preceded_ws:
                f["flow_ind"] = f["block_ind"] = True
        if not _printable(ch):
            f["special"] = True
        if ch == " ":
            f["leading_space"] |= i == 0
            f["trailing_space"] |= i == last
            f["break_space"] |= prev_break
            prev_space, prev_break = True, False
        elif ch in _BREAKS:
            f["line_breaks"] = True
            f["leading_break"] |= i == 0
            f["trailing_break"] |= i == last
            f["space_break"] |= prev_space
            prev_space, prev_break = False, True
        else:
            prev_space = prev_break = False
        preceded_ws = ch in " \t" or ch in _BREAKS
    return f


# --- map key order (yaml.v2 sorter.go) ---------------------------------------------------------


def _key_less(a: str, b: str) -> bool:
    for i in range(min(len(a), len(b))):
        ca, cb = a[i], b[i]
        if ca == cb:
            continue
        al, bl = ca.isalpha(), cb.isalpha()
        if al and bl:
            return ca < cb
        if al or bl:
            return bl
        an = bn = 0
        if ca == "0" or cb == "0":
            j = i - 1
            while j >= 0 and a[j].isdecimal():
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and a[ai].isdecimal():
            an = an * 10 + int(a[ai])
            ai += 1
        bi = i
        while bi < len(b) and b[bi].isdecimal():
            bn = bn * 10 + int(b[bi])
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return ca < cb
    return len(a) < len(b)


def _key_cmp(a: str, b: str) -> int:
    return -1 if _key_less(a, b) else (1 if _key_less(b, a) else 0)


def sorted_keys(keys: Any) -> list[str]:
    """Map keys in yaml.v2 order."""
    return sorted((str(k) for k in keys), key=cmp_to_key(_key_cmp))


# --- the emitter ------------------------------------------------------------------------------


class _Emitter:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.column = 0
        self.indent = -1
        self.indents: list[int] = []
        self.whitespace = True
        self.indention = True
        self.flow_level = 0

    def put(self, text: str) -> None:
        """Write text on the current line."""
        self.out.append(text)
        self.column += len(text)

    def put_break(self) -> None:
        """Start a new line."""
        self.out.append("\n")
        self.column = 0

    def write_indent(self) -> None:
        """libyaml yaml_emitter_write_indent."""
        indent = max(self.indent, 0)
        if not self.indention or self.column > indent or (self.column == indent and not self.whitespace):
            self.put_break()
        if self.column < indent:
            self.put(" " * (indent - self.column))
        self.whitespace = True
        self.indention = True

    def indicator(self, text: str, need_ws: bool, is_ws: bool, is_indention: bool) -> None:
        """libyaml yaml_emitter_write_indicator."""
        if need_ws and not self.whitespace:
            self.put(" ")
        self.put(text)
        self.whitespace = is_ws
        self.indention = self.indention and is_indention

    def push_indent(self, flow: bool, indentless: bool) -> None:
        """libyaml yaml_emitter_increase_indent."""
        self.indents.append(self.indent)
        if self.indent < 0:
            self.indent = BEST_INDENT if flow else 0
        elif not indentless:
            self.indent += BEST_INDENT

    def pop_indent(self) -> None:
        """Restore the previous indentation."""
        self.indent = self.indents.pop()

    def node(self, value: Any, root: bool = False, mapping: bool = False, simple_key: bool = False) -> None:
        """Emit any value."""
        if value is NIL_MAP or (isinstance(value, dict) and not value):
            self.empty("{", "}")
        elif value is NIL_LIST or (isinstance(value, list) and not value):
            self.empty("[", "]")
        elif isinstance(value, dict):
            self.block_mapping(value)
        elif isinstance(value, list):
            self.block_sequence(value, mapping)
        else:
            self.scalar(value, simple_key)

    def empty(self, start: str, end: str) -> None:
        """Emit an empty flow collection ({} or [])."""
        self.indicator(start, True, True, False)
        self.push_indent(True, False)
        self.pop_indent()
        self.indicator(end, False, False, False)

    def block_sequence(self, items: list[Any], mapping: bool) -> None:
        """Emit a block sequence (indentless inside a mapping)."""
        self.push_indent(False, mapping and not self.indention)
        for item in items:
            self.write_indent()
            self.indicator("-", True, False, True)
            self.node(item)
        self.pop_indent()

    def block_mapping(self, value: dict[str, Any]) -> None:
        """Emit a block mapping (GoMap keys sorted, struct keys in order)."""
        self.push_indent(False, False)
        keys = sorted_keys(value.keys()) if isinstance(value, GoMap) else list(value.keys())
        for key in keys:
            self.write_indent()
            text = str(key)
            if len(text) <= 128 and not _Analysis(text).multiline:
                self.scalar(text, simple_key=True)
                self.indicator(":", False, False, False)
            else:
                self.indicator("?", True, False, True)
                self.scalar(text, simple_key=False)
                self.write_indent()
                self.indicator(":", True, False, True)
            self.node(value[key], mapping=True)
        self.pop_indent()

    def scalar(self, value: Any, simple_key: bool) -> None:
        """Pick a scalar style like yaml_emitter_select_scalar_style and write it."""
        text, style = _scalar_text(value)
        analysis = _Analysis(text)
        if simple_key and analysis.multiline:
            style = "double"
        if style == "plain":
            if not analysis.block_plain or (not text and simple_key):
                style = "single"
        if style == "single" and not analysis.single_quoted:
            style = "double"
        if style == "literal" and (not analysis.block or simple_key):
            style = "double"
        self.push_indent(True, False)
        allow_breaks = not simple_key
        if style == "plain":
            self.write_plain(text, allow_breaks)
        elif style == "single":
            self.write_single(text, allow_breaks)
        elif style == "double":
            self.write_double(text, allow_breaks)
        else:
            self.write_literal(text)
        self.pop_indent()

    def write_plain(self, text: str, allow_breaks: bool) -> None:
        """libyaml yaml_emitter_write_plain_scalar."""
        if not self.whitespace:
            self.put(" ")
        spaces = breaks = False
        for i, ch in enumerate(text):
            if ch == " ":
                nxt = text[i + 1] if i + 1 < len(text) else ""
                if allow_breaks and not spaces and self.column > BEST_WIDTH and nxt != " ":
                    self.write_indent()
                else:
                    self.put(ch)
                spaces = True
            elif ch in _BREAKS:
                if not breaks and ch == "\n":
                    self.put_break()
                self._write_break(ch)
                self.indention = True
                breaks = True
            else:
                if breaks:
                    self.write_indent()
                self.put(ch)
                self.indention = False
                spaces = breaks = False
        self.whitespace = False
        self.indention = False

    def write_single(self, text: str, allow_breaks: bool) -> None:
        """libyaml yaml_emitter_write_single_quoted_scalar."""
        self.indicator("'", True, False, False)
        spaces = breaks = False
        last = len(text) - 1
        for i, ch in enumerate(text):
            if ch == " ":
                nxt = text[i + 1] if i < last else ""
                if allow_breaks and not spaces and self.column > BEST_WIDTH and 0 < i < last and nxt != " ":
                    self.write_indent()
                else:
                    self.put(ch)
                spaces = True
            elif ch in _BREAKS:
                if not breaks and ch == "\n":
                    self.put_break()
                self._write_break(ch)
                self.indention = True
                breaks = True
            else:
                if breaks:
                    self.write_indent()
                self.put("''" if ch == "'" else ch)
                self.indention = False
                spaces = breaks = False
        self.indicator("'", False, False, False)
        self.whitespace = False
        self.indention = False

    def write_double(self, text: str, allow_breaks: bool) -> None:
        """libyaml yaml_emitter_write_double_quoted_scalar."""
        self.indicator('"', True, False, False)
        spaces = False
        last = len(text) - 1
        for i, ch in enumerate(text):
            if not _printable(ch) or ch == "\ufeff" or ch in _BREAKS or ch in '"\\':
                self.put(_escape(ch))
                spaces = False
            elif ch == " ":
                if allow_breaks and not spaces and self.column > BEST_WIDTH and 0 < i < last:
                    self.write_indent()
                    if text[i + 1] == " ":
                        self.put("\\")
                else:
                    self.put(ch)
                spaces = True
            else:
                self.put(ch)
                spaces = False
        self.indicator('"', False, False, False)
        self.whitespace = False
        self.indention = False

    def write_literal(self, text: str) -> None:
        """libyaml yaml_emitter_write_literal_scalar."""
        self.indicator("|", True, False, False)
        if text[:1] == " " or text[:1] in _BREAKS:
            self.indicator(str(BEST_INDENT), False, False, False)
        if not text or text[-1] not in _BREAKS:
            self.indicator("-", False, False, False)
        elif len(text) == 1 or text[-2] in _BREAKS:
            self.indicator("+", False, False, False)
        self.put_break()
        self.indention = True
        self.whitespace = True
        breaks = True
        for ch in text:
            if ch in _BREAKS:
                self._write_break(ch)
                self.indention = True
                breaks = True
            else:
                if breaks:
                    self.write_indent()
                self.put(ch)
                self.indention = False
                breaks = False

    def _write_break(self, ch: str) -> None:
        if ch == "\n":
            self.put_break()
        else:
            self.out.append(ch)
            self.column = 0


_SHORT_ESCAPES = {
    "\x00": "0", "\x07": "a", "\x08": "b", "\x09": "t", "\x0a": "n", "\x0b": "v", "\x0c": "f",
    "\x0d": "r", "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N", "\xa0": "_", "\u2028": "L", "\u2029": "P",
}  # fmt: skip


def _escape(ch: str) -> str:
    if ch in _SHORT_ESCAPES:
        return "\\" + _SHORT_ESCAPES[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02X}"
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"


def _scalar_text(value: Any) -> tuple[str, str]:
    """Text and requested style for a scalar, following yaml.v2's encoder."""
    if value is None:
        return "null", "plain"
    if value is True:
        return "true", "plain"
    if value is False:
        return "false", "plain"
    if isinstance(value, GoTime):
        return str(value), "plain"
    if isinstance(value, int):
        return str(value), "plain"
    if isinstance(value, float):
        return _go_float(value), "plain"
    text = str(value)
    if "\n" in text:
        return text, "literal"
    if resolves_to_string(text) and not (text[:1] in "+-0123456789" and ":" in text and _BASE60.match(text)):
        return text, "plain"
    return text, "double"


def _go_float(value: float) -> str:
    if value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if text.endswith(".0"):
        text = text[:-2]
    if "e" in text:
        mant, _, exp = text.partition("e")
        sign = "-" if exp.startswith("-") else "+"
        text = f"{mant}e{sign}{exp.lstrip('+-').zfill(2)}"
    return text
