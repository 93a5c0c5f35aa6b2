"""Go reference-time layouts (``2006-01-02 15:04:05``): formatting an aware datetime the way Go's
time.Format does, and the regex of every value a layout token can give (to recognise formatted text).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_FIXED_ZONE_NAME = re.compile(r"UTC([+-]\d\d:\d\d(:\d\d(\.\d+)?)?)?")
_ZERO_X = ("zero_month", "zero_day", "zero_hour12", "zero_minute", "zero_second", "year")
_NUM_TZ = ("-070000", "-07:00:00", "-0700", "-07:00", "-07")
_ISO_TZ = ("Z070000", "Z07:00:00", "Z0700", "Z07:00", "Z07")


def _is_digit(text: str, i: int) -> bool:
    return i < len(text) and "0" <= text[i] <= "9"


def token_at(layout: str, i: int) -> tuple[str, int] | None:
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
        "Jan": MONTHS[dt.month - 1][:3], "January": MONTHS[dt.month - 1],
        "num_month": str(dt.month), "zero_month": f"{dt.month:02d}",
        "Mon": DAYS[(dt.weekday() + 1) % 7][:3], "Monday": DAYS[(dt.weekday() + 1) % 7],
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


def map_layout(layout: str, token_text: Callable[[str, int], str]) -> str:
    """A Go layout with each reference-time token replaced by ``token_text(token, width)``, the rest kept."""
    out: list[str] = []
    i = 0
    while i < len(layout):
        found = token_at(layout, i)
        if found is None:
            out.append(layout[i])
            i += 1
            continue
        token, length = found
        out.append(token_text(token, length - 1))
        i += length
    return "".join(out)


def go_format(dt: datetime, layout: str) -> str:
    """Format an aware datetime with a Go reference-time layout (``2006-01-02 15:04:05``)."""
    return map_layout(layout, lambda token, width: _value(dt, token, width))


# Recognising formatted values ------------------------------------------------------------------

_NAMES_RE = {
    "Jan": "|".join(m[:3] for m in MONTHS), "January": "|".join(MONTHS),
    "Mon": "|".join(d[:3] for d in DAYS), "Monday": "|".join(DAYS), "PM": "AM|PM", "pm": "AM|PM",
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


def token_regex(token: str, digits: int) -> str:
    """The regex of every value ``go_format`` can give for a layout token."""
    if token in _NAMES_RE:
        return f"(?i:{_NAMES_RE[token]})"  # |lower and |upper may have changed the case
    if token in _TOKEN_RE:
        return _TOKEN_RE[token]
    if token[0] == "Z":
        return f"(?:[Zz]|{_TOKEN_RE['-' + token[1:]]})"
    sep, digits = re.escape(token[0]), min(digits, 9)
    return f"{sep}\\d{{{digits}}}" if token[1] == "0" else f"(?:{sep}\\d{{1,{digits}}})?"
