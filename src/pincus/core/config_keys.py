"""Validation of instance config keys (the subset pincus implements, with Incus's rules)."""

from __future__ import annotations

import re
from collections.abc import Callable

from pincus.base.errors import InvalidArgument
from pincus.core import expiry, pattern, retention, schedule

_BOOL = {"true", "false", "1", "0", "yes", "no", "on", "off"}


def is_true(value: str | None) -> bool:
    """Incus's truthiness of a config value."""
    return (value or "").lower() in ("true", "1", "yes", "on")


def _bool(value: str) -> None:
    if value.lower() not in _BOOL:
        raise ValueError("Invalid value for a boolean")


def _int(value: str) -> None:
    int(value)


def _memory(value: str) -> None:
    if not re.fullmatch(r"\d+(\.\d+)?\s*(B|kB|MB|GB|TB|KiB|MiB|GiB|TiB|k|M|G|T)?|\d+%", value):
        raise ValueError("Invalid memory value")


def _cpu(value: str) -> None:
    if not re.fullmatch(r"\d+|\d+(-\d+)?(,\d+(-\d+)?)*", value):
        raise ValueError("Invalid CPU limit")


def _any(value: str) -> None:
    return None


def _key_list(value: str) -> None:
    for item in value.split(","):
        key = item.strip()
        if not re.fullmatch(r"[a-z0-9_.-]+\*?", key):
            raise ValueError(f'"{key}" is not a configuration key or a prefix ending in "*"')


def _remote_name(value: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
        raise ValueError("must be the name of a replication target")


def _count(value: str) -> None:
    if not re.fullmatch(r"[0-9]+", value):
        raise ValueError("must be a non-negative integer")


VALIDATORS: dict[str, Callable[[str], None]] = {
    "security.protection.delete": _bool,
    "security.privileged": _bool,
    "security.nesting": _bool,
    "boot.autostart": _bool,
    "boot.autostart.delay": _int,
    "boot.autostart.priority": _int,
    "boot.host_shutdown_timeout": _int,
    "boot.stop.priority": _int,
    "limits.memory": _memory,
    "limits.cpu": _cpu,
    "limits.processes": _int,
    "migration.stateful": _bool,
    "snapshots.schedule": schedule.validate_schedule,
    "snapshots.schedule.stopped": _bool,
    "snapshots.pattern": pattern.validate_pattern,
    "snapshots.expiry": expiry.validate_expiry,
    "snapshots.expiry.manual": expiry.validate_expiry,
    "raw.lxc": _any,
    "refresh.keep_snapshots": _bool,
    "refresh.keep_config": _key_list,
    "refresh.snapshots.expiry": expiry.validate_expiry,
    "snapshots.replicate.target": _remote_name,
    "snapshots.replicate.schedule": schedule.validate_schedule,
    "snapshots.replicate.instance": _any,
    **{retention.CONFIG_PREFIX + rule: _count for rule in retention.RULES},
}
_PREFIXES = ("user.", "environment.", "image.", "volatile.", "linux.")
_RETENTION_KEYS = ", ".join(retention.CONFIG_PREFIX + rule for rule in retention.RULES)


def validate_config(config: dict[str, str]) -> None:
    """Refuse unknown keys and bad values with a message naming the key."""
    for key, value in config.items():
        if not isinstance(value, str):
            raise InvalidArgument(f'Invalid config: Invalid value for "{key}": value must be a string')
        if key.startswith(_PREFIXES):
            continue
        check = VALIDATORS.get(key)
        if check is None and key.startswith(retention.CONFIG_PREFIX):
            raise InvalidArgument(f"Invalid config: Unknown configuration key: {key} (retention keys: {_RETENTION_KEYS})")
        if check is None:
            raise InvalidArgument(f'Invalid config: Unknown configuration key: {key}')
        if value == "":
            continue
        try:
            check(value)
        except (ValueError, InvalidArgument) as exc:
            raise InvalidArgument(f'Invalid config: Invalid value for "{key}": {exc}') from None

