"""Request bodies of the REST API as typed wire structs, named and shaped after Incus's shared/api.

Each struct lists the JSON fields pincus reads, with Go's types made strict: a string where a
bool is expected is refused, not coerced. As with Go's decoder, unknown fields are ignored,
``null`` is the same as a missing field (every field defaults to None), maps are
``map[string]string`` and integers must fit their Go type. Timestamps are RFC3339 strings
checked at decode time (api/body.py), so a bad ``expires_at`` is a 400 before anything runs.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
UInt32 = Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)]
WindowSize = Annotated[int, msgspec.Meta(ge=0, le=2**16 - 1)]  # a pty's rows and columns are 16-bit
Config = dict[str, str]
Devices = dict[str, dict[str, str]]


class Timestamp(str):
    """An RFC3339 time as Go's time.Time reads it ("" and the zero time mean "never")."""


class Wire(msgspec.Struct, kw_only=True):
    """Base of every request body: absent fields and nulls are None."""


# instances ---------------------------------------------------------------------------------


class InstanceSource(Wire):
    """Where a new instance comes from (image, copy, migration, none)."""

    type: str | None = None
    certificate: str | None = None
    alias: str | None = None
    fingerprint: str | None = None
    properties: Config | None = None
    server: str | None = None
    secret: str | None = None
    protocol: str | None = None
    base_image: str | None = msgspec.field(default=None, name="base-image")
    mode: str | None = None
    operation: str | None = None
    secrets: Config | None = None
    source: str | None = None
    live: bool | None = None
    instance_only: bool | None = None
    refresh: bool | None = None
    refresh_exclude_older: bool | None = None
    keep_target_snapshots: bool | None = None  # pincus: keep snapshots only the target has
    project: str | None = None
    allow_inconsistent: bool | None = None


class InstancePut(Wire):
    """PUT/PATCH /1.0/instances/{name}: the editable fields, or ``restore`` a snapshot."""

    architecture: str | None = None
    config: Config | None = None
    devices: Devices | None = None
    ephemeral: bool | None = None
    profiles: list[str] | None = None
    restore: str | None = None
    stateful: bool | None = None
    disk_only: bool | None = None
    description: str | None = None


class InstancesPost(InstancePut):
    """POST /1.0/instances."""

    name: str | None = None
    source: InstanceSource | None = None
    instance_type: str | None = None
    type: str | None = None
    start: bool | None = None


class InstancePostTarget(Wire):
    """The server a migration source connects to (push mode)."""

    certificate: str | None = None
    operation: str | None = None
    secrets: Config | None = None


class InstancePost(Wire):
    """POST /1.0/instances/{name}: rename, or become a migration source."""

    name: str | None = None
    migration: bool | None = None
    live: bool | None = None
    instance_only: bool | None = None
    target: InstancePostTarget | None = None
    pool: str | None = None
    project: str | None = None
    allow_inconsistent: bool | None = None


class InstanceStatePut(Wire):
    """PUT /1.0/instances/{name}/state."""

    action: str | None = None
    timeout: Int64 | None = None
    force: bool | None = None
    stateful: bool | None = None


class InstanceExecPost(Wire):
    """POST /1.0/instances/{name}/exec."""

    command: list[str] | None = None
    wait_for_websocket: bool | None = msgspec.field(default=None, name="wait-for-websocket")
    interactive: bool | None = None
    environment: Config | None = None
    width: WindowSize | None = None
    height: WindowSize | None = None
    record_output: bool | None = msgspec.field(default=None, name="record-output")
    user: UInt32 | None = None
    group: UInt32 | None = None
    cwd: str | None = None


class InstanceSnapshotsPost(Wire):
    """POST /1.0/instances/{name}/snapshots."""

    name: str | None = None
    stateful: bool | None = None
    expires_at: Timestamp | None = None


class InstanceSnapshotPut(Wire):
    """PUT/PATCH /1.0/instances/{name}/snapshots/{snapshot}."""

    expires_at: Timestamp | None = None


class InstanceSnapshotPost(Wire):
    """POST /1.0/instances/{name}/snapshots/{snapshot}: rename, or become a migration source."""

    name: str | None = None
    migration: bool | None = None
    target: InstancePostTarget | None = None
    live: bool | None = None
    instance_only: bool | None = None


# storage pools, profiles -------------------------------------------------------------------


class StoragePoolPut(Wire):
    """PUT/PATCH /1.0/storage-pools/{name}."""

    config: Config | None = None
    description: str | None = None


class StoragePoolsPost(StoragePoolPut):
    """POST /1.0/storage-pools."""

    name: str | None = None
    driver: str | None = None


class ProfilePut(Wire):
    """PUT/PATCH /1.0/profiles/{name}."""

    config: Config | None = None
    description: str | None = None
    devices: Devices | None = None


class ProfilesPost(ProfilePut):
    """POST /1.0/profiles."""

    name: str | None = None


# images ------------------------------------------------------------------------------------


class ImageAlias(Wire):
    """An alias given with a new image."""

    name: str | None = None
    description: str | None = None


class ImagesPostSource(Wire):
    """Where a new image comes from (pincus: an instance or a snapshot to publish)."""

    alias: str | None = None
    certificate: str | None = None
    protocol: str | None = None
    server: str | None = None
    image_type: str | None = None
    mode: str | None = None
    type: str | None = None
    url: str | None = None
    name: str | None = None
    fingerprint: str | None = None
    secret: str | None = None
    project: str | None = None


class ImagePut(Wire):
    """PUT/PATCH /1.0/images/{fingerprint}."""

    auto_update: bool | None = None
    properties: Config | None = None
    public: bool | None = None
    expires_at: Timestamp | None = None
    profiles: list[str] | None = None


class ImagesPost(ImagePut):
    """POST /1.0/images with a JSON body (publish)."""

    filename: str | None = None
    source: ImagesPostSource | None = None
    compression_algorithm: str | None = None
    aliases: list[ImageAlias] | None = None


class ImageAliasesEntryPut(Wire):
    """PUT/PATCH /1.0/images/aliases/{name}."""

    description: str | None = None
    target: str | None = None


class ImageAliasesPost(ImageAliasesEntryPut):
    """POST /1.0/images/aliases."""

    name: str | None = None
    type: str | None = None


class ImageAliasesEntryPost(Wire):
    """POST /1.0/images/aliases/{name}: rename."""

    name: str | None = None


# certificates, server, replication ---------------------------------------------------------


class CertificatePut(Wire):
    """PUT/PATCH /1.0/certificates/{fingerprint}."""

    name: str | None = None
    type: str | None = None
    restricted: bool | None = None
    projects: list[str] | None = None
    certificate: str | None = None
    description: str | None = None


class CertificatesPost(CertificatePut):
    """POST /1.0/certificates (``password`` is the trust token's older name)."""

    trust_token: str | None = None
    password: str | None = None
    token: bool | None = None


class ServerPut(Wire):
    """PUT/PATCH /1.0."""

    config: Config | None = None


class ReplicationTargetsPost(Wire):
    """POST /1.0/replication-targets (pincus's own API)."""

    name: str | None = None
    token: str | None = None


BODIES: tuple[type[Wire], ...] = (
    InstancesPost, InstancePut, InstancePost, InstanceStatePut, InstanceExecPost, InstanceSnapshotsPost,
    InstanceSnapshotPut, InstanceSnapshotPost, StoragePoolsPost, StoragePoolPut, ProfilesPost, ProfilePut,
    ImagesPost, ImagePut, ImageAliasesPost, ImageAliasesEntryPut, ImageAliasesEntryPost, CertificatesPost,
    CertificatePut, ServerPut, ReplicationTargetsPost,
)  # fmt: skip
