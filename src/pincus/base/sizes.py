"""Byte sizes the way Incus writes and reads them (shared/units): ``5GiB``, ``1.50MB``.

The CLI imports this module at start-up: ``re`` and the error classes are imported where used.
"""

from __future__ import annotations

_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15, "e": 10**18}
_BIN = {"ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40, "pi": 2**50, "ei": 2**60}


def _scaled(value: int, base: int, units: tuple[str, ...], precision: int) -> str:
    """value in the first unit (of ``base`` steps) that keeps it below one more step."""
    if value < base:
        return f"{value}B"
    size = float(value)
    for unit in units:
        size /= base
        if size < base:
            return f"{size:.{precision}f}{unit}"
    return f"{size:.{precision}f}EB"


def byte_size_iec(value: int, precision: int = 2) -> str:
    """units.GetByteSizeStringIEC."""
    return _scaled(value, 1024, ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"), precision)


def byte_size(value: int, precision: int = 2) -> str:
    """units.GetByteSizeString (SI units)."""
    return _scaled(value, 1000, ("kB", "MB", "GB", "TB", "PB", "EB"), precision)


def parse_size(text: str) -> int:
    """Bytes of an Incus size string: ``20GiB``, ``5GB``, ``512MiB``, ``1073741824``."""
    import re

    from pincus.base.errors import InvalidArgument

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtpe]i?)?b?\s*", text, re.IGNORECASE)
    if not m:
        raise InvalidArgument(f'Invalid size "{text}"')
    unit = (m.group(2) or "").lower()
    return int(float(m.group(1)) * (_BIN[unit] if unit.endswith("i") else _UNITS[unit]))


def format_size(n: int) -> str:
    """The shortest exact Incus spelling of n bytes (``5GiB``)."""
    for suffix, factor in (
        ("EiB", 2**60),
        ("PiB", 2**50),
        ("TiB", 2**40),
        ("GiB", 2**30),
        ("MiB", 2**20),
        ("KiB", 2**10),
    ):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{suffix}"
    return f"{n}B"
