"""Rows of the pincus database as typed records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PoolRecord:
    """A storage pool."""

    name: str
    driver: str
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    id: int = 0
    pending: int = 0


@dataclass
class ProfileRecord:
    """A profile: config and devices merged into the instances that use it."""

    name: str
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    devices: dict[str, dict[str, str]] = field(default_factory=dict)
    id: int = 0


@dataclass
class ImageRecord:
    """An image known to the daemon (tarballs under $PINCUS_DIR/images/)."""

    fingerprint: str
    filename: str
    size: int
    architecture: str
    created_at: str
    uploaded_at: str
    expires_at: str
    last_used_at: str
    properties: dict[str, str] = field(default_factory=dict)
    type: str = "container"
    public: bool = False
    auto_update: bool = False
    split: bool = False
    id: int = 0


@dataclass
class InstanceRecord:
    """An instance: its local config and devices, before profiles are applied."""

    name: str
    pool: str
    created_at: str
    last_used_at: str
    architecture: str = "x86_64"
    type: str = "container"
    ephemeral: bool = False
    stateful: bool = False
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    devices: dict[str, dict[str, str]] = field(default_factory=dict)
    profiles: list[str] = field(default_factory=list)
    id: int = 0
    pending: int = 0
    error: str = ""  # why recovery could not settle a change of this instance (shown as status Error)


@dataclass
class SnapshotRecord:
    """A snapshot: the instance's config, devices and profiles when it was taken."""

    instance_id: int
    name: str
    created_at: str
    expires_at: str
    last_used_at: str
    stateful: bool = False
    architecture: str = "x86_64"
    ephemeral: bool = False
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)
    devices: dict[str, dict[str, str]] = field(default_factory=dict)
    profiles: list[str] = field(default_factory=list)
    scheduled: bool = False  # made by snapshots.schedule (retention never prunes the others)
    id: int = 0
    pending: int = 0


@dataclass
class JournalRecord:
    """A multi-step change of an instance in progress: recovery finishes or undoes it after a crash.

    ``kind`` says what change (restore, rename, snapshot-rename), ``phase`` how far it got, ``data``
    what recovery needs (names, the snapshot, the power state to give back).
    """

    instance_id: int
    kind: str
    phase: str
    data: dict[str, Any] = field(default_factory=dict)
    id: int = 0
