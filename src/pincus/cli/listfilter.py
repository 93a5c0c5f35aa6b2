"""Client-side ``incus list`` filters: name regex/prefix, config key=value, shorthand filters."""

from __future__ import annotations

import ipaddress
import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def _dot_prefix_match(short: str, full: str) -> bool:
    short_parts, full_parts = short.split("."), full.split(".")
    if len(short_parts) != len(full_parts):
        return False
    return all(f.startswith(s) for s, f in zip(short_parts, full_parts, strict=True))


def _anchored(value: str) -> str:
    return value if ("^" in value or "$" in value) else f"^{value}$"


def _go_match(pattern: str, text: str) -> bool | None:
    """Regex match, or None when the pattern is not a valid regex."""
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return None


def _match_net(state: dict[str, Any] | None, query: str, family: str) -> bool:
    if not state or not state.get("network"):
        return False
    try:
        subnet = ipaddress.ip_network(query, strict=False) if "/" in query else None
    except ValueError:
        subnet = None
    want = "inet6" if family == "ipv6" else "inet"
    for net in state["network"].values():
        for addr in net.get("addresses") or []:
            if addr.get("family") != want:
                continue
            if addr.get("address") == query:
                return True
            if subnet is not None:
                try:
                    if ipaddress.ip_address(addr.get("address", "")) in subnet:
                        return True
                except ValueError:
                    continue
    return False


SHORTHANDS: dict[str, Callable[[dict[str, Any], str], bool]] = {
    "type": lambda i, q: str(i.get("type", "")).lower() == q.lower(),
    "state": lambda i, q: str(i.get("status", "")).lower() == q.lower(),
    "status": lambda i, q: str(i.get("status", "")).lower() == q.lower(),
    "architecture": lambda i, q: str(i.get("architecture", "")).lower() == q.lower(),
    "location": lambda i, q: str(i.get("location", "")).lower() == q.lower(),
    "ipv4": lambda i, q: _match_net(i.get("state"), q, "ipv4"),
    "ipv6": lambda i, q: _match_net(i.get("state"), q, "ipv6"),
}


def _shorthand(key: str, value: str, inst: dict[str, Any]) -> bool:
    func = SHORTHANDS.get(key.lower())
    if func is None:
        return False
    return any(func(inst, v) for v in value.split(","))


def _key_value_ok(key: str, value: str, inst: dict[str, Any]) -> bool:
    if _shorthand(key, value, inst):
        return True
    config = inst.get("expanded_config") or {}
    found = False
    for conf_key, conf_value in config.items():
        if not _dot_prefix_match(key, conf_key):
            continue
        matched = _go_match(_anchored(value), conf_value)
        if matched is None:
            if value != conf_value:
                return False
            found = True
            break
        if matched:
            found = True
            break
    return config.get(key) == value or found


def should_show(filters: list[str], inst: dict[str, Any]) -> bool:
    """True if ``inst`` passes every filter."""
    for item in filters:
        if "=" in item:
            key, _, value = item.partition("=")
            if not _key_value_ok(key, value, inst):
                return False
            continue
        name = str(inst.get("name", ""))
        if _go_match(_anchored(item), name):
            continue
        if not name.startswith(item):
            return False
    return True
