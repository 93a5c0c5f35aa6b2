"""JSON encode/decode with Go's encoding/json conventions, built on the C accelerator.

The stdlib ``json`` package imports ``re``, which costs ~10 ms of interpreter start-up here;
``pincus list`` is benchmarked against the Go client, so the C scanner and escaper are used
directly. Encoding follows Go (compact, ``<>&`` and U+2028/U+2029 escaped, UTF-8 kept).
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class _ScanContext:
    """Attributes read by the C scanner (the same ones json.JSONDecoder provides)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name: str) -> float:
        """Map NaN/Infinity literals like the stdlib decoder does."""
        return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


_scan_once = _json.make_scanner(_ScanContext())  # type: ignore[arg-type]
_WS = " \t\n\r"


class DecodeError(ValueError):
    """The text is not valid JSON."""


def loads(text: str | bytes) -> Any:
    """Parse one JSON document."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    start = len(text) - len(text.lstrip(_WS))
    try:
        value, end = _scan_once(text, start)
    except Exception:  # the C scanner needs json.decoder loaded to report errors
        raise DecodeError(_slow_error(text)) from None
    if text[end:].strip(_WS):
        raise DecodeError(f"extra data at offset {end}")
    return value


def _slow_error(text: str) -> str:
    """Describe a syntax error using the stdlib decoder (only on the error path)."""
    import json

    try:
        json.loads(text)
    except ValueError as exc:
        return str(exc)
    return "invalid JSON"


_encode_str = _json.encode_basestring


def quote(s: str) -> str:
    """Return ``s`` as a JSON string literal escaped the way Go's encoder does."""
    out = _encode_str(s)
    if "<" in out or ">" in out or "&" in out or "\u2028" in out or "\u2029" in out:
        out = (
            out.replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("&", "\\u0026")
            .replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029")
        )
    return out


def _float(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("unsupported float value")
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mant, _, exp = text.partition("e")
        sign = exp[0] if exp[0] in "+-" else "+"
        digits = exp.lstrip("+-").lstrip("0") or "0"
        text = f"{mant}e{sign}{digits.zfill(2)}"
    return text


def dumps(value: Any) -> str:
    """Serialize ``value`` compactly, keeping dict order (callers sort maps when Go would)."""
    parts: list[str] = []
    _emit(value, parts.append)
    return "".join(parts)


def _emit(value: Any, write: Any) -> None:
    if isinstance(value, str):
        write(quote(value))
    elif value is None:
        write("null")
    elif value is True:
        write("true")
    elif value is False:
        write("false")
    elif isinstance(value, int):
        write(str(value))
    elif isinstance(value, float):
        write(_float(value))
    elif isinstance(value, dict):
        write("{")
        first = True
        for key, item in value.items():
            if not first:
                write(",")
            first = False
            write(quote(str(key)))
            write(":")
            _emit(item, write)
        write("}")
    elif isinstance(value, (list, tuple)):
        write("[")
        for index, item in enumerate(value):
            if index:
                write(",")
            _emit(item, write)
        write("]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")
