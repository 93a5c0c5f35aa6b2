"""The shapes of Incus API structs, so JSON/YAML output matches the Go client field for field.

The Go client decodes server JSON into structs and re-encodes them, so its output has the
struct's field order, zero values for missing fields, sorted maps and normalised times,
whatever the server sent. ``shape()`` reproduces that from a decoded server document.
"""

from __future__ import annotations

from pincus.cli.gotypes import NIL_LIST, NIL_MAP, GoMap, GoTime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

OMIT = True

_INSTANCE_PUT = [
    ("architecture", "s"), ("config", "m"), ("devices", "d"), ("ephemeral", "b"), ("profiles", "l"),
    ("restore", "s", OMIT), ("stateful", "b"), ("description", "s"),
]  # fmt: skip
_INSTANCE = _INSTANCE_PUT + [
    ("created_at", "t"), ("expanded_config", "m", OMIT), ("expanded_devices", "d", OMIT), ("name", "s"),
    ("status", "s"), ("status_code", "i"), ("last_used_at", "t"), ("location", "s"), ("type", "s"),
    ("project", "s"),
]  # fmt: skip

TYPES: dict[str, list[tuple[Any, ...]]] = {
    "InstancePut": _INSTANCE_PUT,
    "Instance": _INSTANCE,
    "InstanceFull": _INSTANCE
    + [("backups", "lo:InstanceBackup"), ("state", "p:InstanceState"), ("snapshots", "lo:InstanceSnapshot")],
    "InstanceSnapshot": [
        ("expires_at", "t"),
        ("architecture", "s"),
        ("config", "m"),
        ("created_at", "t"),
        ("devices", "d"),
        ("ephemeral", "b"),
        ("expanded_config", "m", OMIT),
        ("expanded_devices", "d", OMIT),
        ("last_used_at", "t"),
        ("name", "s"),
        ("profiles", "l"),
        ("stateful", "b"),
        ("size", "i"),
    ],  # fmt: skip
    "InstanceBackup": [
        ("name", "s"),
        ("created_at", "t"),
        ("expires_at", "t"),
        ("instance_only", "b"),
        ("optimized_storage", "b"),
    ],  # fmt: skip
    "InstanceState": [
        ("status", "s"),
        ("status_code", "i"),
        ("disk", "mo:InstanceStateDisk"),
        ("memory", "o:InstanceStateMemory"),
        ("network", "mo:InstanceStateNetwork"),
        ("pid", "i"),
        ("processes", "i"),
        ("cpu", "o:InstanceStateCPU"),
        ("started_at", "t"),
        ("os_info", "p:InstanceStateOSInfo"),
    ],  # fmt: skip
    "InstanceStateDisk": [("usage", "i"), ("total", "i")],
    "InstanceStateCPU": [("usage", "i"), ("allocated_time", "i")],
    "InstanceStateMemory": [
        ("usage", "i"),
        ("usage_peak", "i"),
        ("total", "i"),
        ("swap_usage", "i"),
        ("swap_usage_peak", "i"),
    ],  # fmt: skip
    "InstanceStateNetwork": [
        ("addresses", "lo:InstanceStateNetworkAddress"),
        ("counters", "o:InstanceStateNetworkCounters"),
        ("hwaddr", "s"),
        ("host_name", "s"),
        ("mtu", "i"),
        ("state", "s"),
        ("type", "s"),
    ],  # fmt: skip
    "InstanceStateNetworkAddress": [("family", "s"), ("address", "s"), ("netmask", "s"), ("scope", "s")],
    "InstanceStateNetworkCounters": [
        ("bytes_received", "i"),
        ("bytes_sent", "i"),
        ("packets_received", "i"),
        ("packets_sent", "i"),
        ("errors_received", "i"),
        ("errors_sent", "i"),
        ("packets_dropped_outbound", "i"),
        ("packets_dropped_inbound", "i"),
    ],  # fmt: skip
    "InstanceStateOSInfo": [
        ("os", "s"),
        ("os_version", "s"),
        ("kernel_version", "s"),
        ("hostname", "s"),
        ("fqdn", "s"),
    ],  # fmt: skip
    "Image": [
        ("auto_update", "b"),
        ("properties", "m"),
        ("public", "b"),
        ("expires_at", "t"),
        ("profiles", "l"),
        ("aliases", "lo:ImageAlias"),
        ("architecture", "s"),
        ("cached", "b"),
        ("filename", "s"),
        ("fingerprint", "s"),
        ("size", "i"),
        ("update_source", "p:ImageSource", OMIT),
        ("type", "s"),
        ("created_at", "t"),
        ("last_used_at", "t"),
        ("uploaded_at", "t"),
        ("project", "s"),
    ],  # fmt: skip
    "ImagePut": [
        ("auto_update", "b"),
        ("properties", "m"),
        ("public", "b"),
        ("expires_at", "t"),
        ("profiles", "l"),
    ],  # fmt: skip
    "ImageAlias": [("name", "s"), ("description", "s")],
    "ImageSource": [
        ("alias", "s"),
        ("certificate", "s"),
        ("protocol", "s"),
        ("server", "s"),
        ("image_type", "s"),
    ],
    "ImageAliasesEntry": [("description", "s"), ("target", "s"), ("name", "s"), ("type", "s")],
    "StoragePool": [
        ("config", "m"),
        ("description", "s"),
        ("name", "s"),
        ("driver", "s"),
        ("used_by", "l"),
        ("status", "s"),
        ("locations", "l"),
    ],  # fmt: skip
    "StoragePoolPut": [("config", "m"), ("description", "s")],
    "Profile": [
        ("config", "m"),
        ("description", "s"),
        ("devices", "d"),
        ("name", "s"),
        ("used_by", "l"),
        ("project", "s"),
    ],  # fmt: skip
    "ProfilePut": [("config", "m"), ("description", "s"), ("devices", "d")],
}


def go_time(value: Any) -> str:
    """Re-format an RFC 3339 timestamp the way Go's time.Format(RFC3339Nano) would."""
    from pincus.base.gotime import ZERO_TIME

    text = value if isinstance(value, str) and value else ZERO_TIME
    if len(text) < 20 or text[10] not in "Tt":
        return text
    base, rest = text[:19], text[19:]
    frac = ""
    if rest.startswith("."):
        end = 1
        while end < len(rest) and rest[end].isdigit():
            end += 1
        frac, rest = rest[1:end].rstrip("0"), rest[end:]
    zone = rest
    if zone in ("Z", "z", "+00:00", "-00:00"):
        zone = "Z"
    return f"{base[:10]}T{base[11:]}{'.' + frac if frac else ''}{zone}"


def shape(value: Any, kind: str) -> Any:
    """Convert decoded JSON into the Go-typed tree for ``kind`` (a struct name or a field kind)."""
    if kind in TYPES:
        return _struct(value, TYPES[kind])
    if kind == "s":
        return value if isinstance(value, str) else ("" if value is None else str(value))
    if kind == "i":
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0
    if kind == "b":
        return bool(value)
    if kind == "t":
        return GoTime(go_time(value))
    if kind == "m":
        return NIL_MAP if value is None else GoMap((str(k), shape(v, "s")) for k, v in dict(value).items())
    if kind == "d":
        if value is None:
            return NIL_MAP
        return GoMap((str(k), shape(v, "m")) for k, v in dict(value).items())
    if kind == "l":
        return NIL_LIST if value is None else [shape(v, "s") for v in value]
    prefix, _, name = kind.partition(":")
    if prefix == "o":
        return _struct(value, TYPES[name])
    if prefix == "p":
        return None if value is None else _struct(value, TYPES[name])
    if prefix == "lo":
        return NIL_LIST if value is None else [_struct(v, TYPES[name]) for v in value]
    if prefix == "mo":
        return (
            NIL_MAP
            if value is None
            else GoMap((str(k), _struct(v, TYPES[name])) for k, v in dict(value).items())
        )
    return value


def _struct(value: Any, fields: list[tuple[Any, ...]]) -> dict[str, Any]:
    doc = value if isinstance(value, dict) else {}
    out: dict[str, Any] = {}
    for field in fields:
        key, kind = field[0], field[1]
        item = shape(doc.get(key), kind)
        if len(field) > 2 and field[2] and _is_empty(item):
            continue
        out[key] = item
    return out


def _is_empty(item: Any) -> bool:
    return (
        item is None
        or item is NIL_MAP
        or item is NIL_LIST
        or item in ("", 0, False)
        or item == {}
        or item == []
    )


def shape_list(values: Any, kind: str) -> Any:
    """Shape a list of structs (a nil list stays nil)."""
    if values is None:
        return NIL_LIST
    return [shape(v, kind) for v in values]


def json_tree(value: Any) -> Any:
    """Replace Go markers for JSON: maps sorted bytewise, nils as null."""
    if value is NIL_MAP or value is NIL_LIST:
        return None
    if isinstance(value, GoMap):
        return {k: json_tree(value[k]) for k in sorted(value, key=lambda s: s.encode("utf-8"))}
    if isinstance(value, dict):
        return {k: json_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_tree(v) for v in value]
    if isinstance(value, GoTime):
        return str(value)
    return value
