"""Wire objects with Incus's field names: Instance, InstanceFull, InstanceState, InstanceSnapshot."""

from __future__ import annotations

from typing import Any

from pincus.base.gotime import format_time
from pincus.core.profiles import expand
from pincus.core.state import State
from pincus.db.records import InstanceRecord, SnapshotRecord
from pincus.db.store import from_db_time
from pincus.runtime.base import FROZEN, RUNNING, ContainerState

ERROR = "Error"
STATUS_CODES = {RUNNING: 103, "Stopped": 102, FROZEN: 110, ERROR: 112}


def t(value: str) -> str:
    """A stored timestamp as Incus prints it."""
    return format_time(from_db_time(value))


def instance_etag(rec: InstanceRecord) -> list[Any]:
    """What the instance's ETag covers (as Incus: architecture, config, devices, ephemeral, profiles)."""
    return [rec.architecture, rec.config, rec.devices, rec.ephemeral, rec.profiles]


def _status(rec: InstanceRecord, state: ContainerState) -> str:
    """The runtime's status, or Error while recovery could not settle an interrupted change."""
    return ERROR if rec.error else state.status


def instance(st: State, rec: InstanceRecord, state: ContainerState) -> dict[str, Any]:
    """The Instance object; ``error`` (beyond Incus) says why its status is Error."""
    config, devices = expand(st.store, rec.profiles, rec.config, rec.devices)
    out = {
        "architecture": rec.architecture,
        "config": rec.config,
        "devices": rec.devices,
        "ephemeral": rec.ephemeral,
        "profiles": rec.profiles,
        "stateful": rec.stateful,
        "description": rec.description,
        "created_at": t(rec.created_at),
        "expanded_config": config,
        "expanded_devices": devices,
        "name": rec.name,
        "status": _status(rec, state),
        "status_code": STATUS_CODES.get(_status(rec, state), 112),
        "last_used_at": t(rec.last_used_at),
        "location": "none",
        "type": "container",
        "project": "default",
    }
    if rec.error:
        out["error"] = rec.error
    return out


def instance_state(rec: InstanceRecord, state: ContainerState, disk_usage: int | None = None) -> dict[str, Any]:
    """The InstanceState object (the stock client dereferences every part of it)."""
    running = state.status != "Stopped"
    return {
        "status": _status(rec, state),
        "status_code": STATUS_CODES.get(_status(rec, state), 112),
        "disk": {"root": {"usage": disk_usage or 0, "total": 0}} if disk_usage is not None else {},
        "memory": {"usage": state.memory_usage, "usage_peak": state.memory_peak,
                   "total": state.memory_total, "swap_usage": 0, "swap_usage_peak": 0},
        "network": {} if running else None,
        "pid": state.pid if running else 0,
        "processes": state.processes if running else 0,
        "cpu": {"usage": state.cpu_usage_ns, "allocated_time": state.cpu_allocated_ns},
        "started_at": t(rec.last_used_at) if running else "0001-01-01T00:00:00Z",
        "os_info": None,
    }


def snapshot(st: State, inst: InstanceRecord, snap: SnapshotRecord, size: int = -1) -> dict[str, Any]:
    """The InstanceSnapshot object."""
    config, devices = expand(st.store, snap.profiles, snap.config, snap.devices)
    return {
        "architecture": snap.architecture,
        "config": snap.config,
        "created_at": t(snap.created_at),
        "devices": snap.devices,
        "ephemeral": snap.ephemeral,
        "expanded_config": config,
        "expanded_devices": devices,
        "expires_at": t(snap.expires_at),
        "last_used_at": t(snap.last_used_at),
        "name": snap.name,
        "profiles": snap.profiles,
        "stateful": snap.stateful,
        "size": size,
    }


def snapshot_etag(snap: SnapshotRecord) -> list[Any]:
    """What a snapshot's ETag covers: its expiry, as Incus."""
    return [t(snap.expires_at)]
