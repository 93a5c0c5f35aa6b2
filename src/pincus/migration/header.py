"""The header a source sends first, built from records, and checked on the target.

Everything in it comes from a peer, so the target checks every field's type and every name with
the same rules as the API (a snapshot name becomes a path component) before using any of it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pincus.base.errors import InvalidArgument, PincusError
from pincus.core import names
from pincus.db.records import InstanceRecord, SnapshotRecord
from pincus.db.store import DB_ZERO_TIME, from_db_time

VERSION = 1
_RECORD_FIELDS = ("architecture", "config", "devices", "profiles", "ephemeral", "description")


def _common(rec: InstanceRecord | SnapshotRecord) -> dict[str, Any]:
    return {f: getattr(rec, f) for f in _RECORD_FIELDS}


def build(driver: str, nested: bool, rec: InstanceRecord, snaps: list[tuple[SnapshotRecord, str]],
          root: SnapshotRecord | None = None) -> dict[str, Any]:
    """The header: the instance (or the snapshot being copied) and the snapshots with their UUIDs."""
    instance = {"name": rec.name, **_common(root if root is not None else rec)}
    snapshots = [
        {"name": s.name, "created_at": s.created_at, "expires_at": s.expires_at, "last_used_at": s.last_used_at,
         "uuid": uuid, **_common(s)}
        for s, uuid in snaps
    ]
    return {"version": VERSION, "driver": driver, "nested": nested, "instance": instance, "snapshots": snapshots}


class BadHeader(PincusError):
    """The peer's header breaks the rules."""

    status = 400


def _strmap(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise BadHeader(f"Invalid {what} from the migration peer: a map of strings is required")
    return dict(value)


def _devices(value: Any) -> dict[str, dict[str, str]]:
    if not isinstance(value, dict):
        raise BadHeader("Invalid devices from the migration peer")
    return {str(k): _strmap(v, f'device "{k}"') for k, v in value.items()}


def _time(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise BadHeader(f"Invalid {what} from the migration peer")
    try:
        from_db_time(value)
    except ValueError:
        raise BadHeader(f'Invalid {what} "{value}" from the migration peer') from None
    return value


def _record_fields(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise BadHeader("Invalid object from the migration peer")
    profiles = obj.get("profiles") or []
    if not isinstance(profiles, list) or not all(isinstance(p, str) for p in profiles):
        raise BadHeader("Invalid profiles from the migration peer")
    return {
        "architecture": str(obj.get("architecture") or "x86_64"),
        "config": _strmap(obj.get("config") or {}, "config"),
        "devices": _devices(obj.get("devices") or {}),
        "profiles": list(profiles),
        "ephemeral": bool(obj.get("ephemeral")),
        "description": str(obj.get("description") or ""),
    }


def check(header: dict[str, Any]) -> dict[str, Any]:
    """A validated copy of a peer's header; BadHeader names what is wrong."""
    if header.get("version") != VERSION:
        raise BadHeader(f"Unsupported migration protocol version {header.get('version')!r} (this server speaks {VERSION})")
    if header.get("driver") not in ("btrfs", "dir"):
        raise BadHeader(f"Unknown storage driver {header.get('driver')!r} from the migration peer")
    inst = _record_fields(header.get("instance"))
    snaps_in = header.get("snapshots") or []
    if not isinstance(snaps_in, list):
        raise BadHeader("Invalid snapshot list from the migration peer")
    snaps, seen = [], set()
    for raw in snaps_in:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise BadHeader("Invalid snapshot from the migration peer")
        try:
            names.validate_snapshot_name(raw["name"])
        except InvalidArgument as exc:
            raise BadHeader(f'Invalid snapshot name "{raw["name"]}" from the migration peer: {exc}') from None
        if raw["name"] in seen:
            raise BadHeader(f'Duplicate snapshot "{raw["name"]}" from the migration peer')
        seen.add(raw["name"])
        created = _time(raw.get("created_at"), "creation date")
        if created == DB_ZERO_TIME:
            raise BadHeader(f'Snapshot "{raw["name"]}" from the migration peer has no creation date')
        uuid = raw.get("uuid") or ""
        if not isinstance(uuid, str) or (uuid and not all(c in "0123456789abcdef" for c in uuid)):
            raise BadHeader("Invalid snapshot UUID from the migration peer")
        snaps.append({
            "name": raw["name"], "created_at": created, "uuid": uuid,
            "expires_at": _time(raw.get("expires_at") or DB_ZERO_TIME, "expiry date"),
            "last_used_at": _time(raw.get("last_used_at") or DB_ZERO_TIME, "last use date"),
            **_record_fields(raw),
        })
    return {"driver": header["driver"], "nested": bool(header.get("nested")), "instance": inst, "snapshots": snaps}


def created(snap: dict[str, Any]) -> datetime:
    """The creation time of a checked header snapshot."""
    value = from_db_time(snap["created_at"])
    assert value is not None
    return value
