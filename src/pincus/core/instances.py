"""Instance records: create (from an image, a copy, a snapshot or nothing), update, rename, delete."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pincus.base import failpoints
from pincus.base.errors import Conflict, InvalidArgument
from pincus.base.revert import Reverter
from pincus.core import names
from pincus.core.config_keys import is_true, validate_config
from pincus.core.events import INSTANCE_CREATED, INSTANCE_DELETED, INSTANCE_RENAMED, INSTANCE_UPDATED
from pincus.core.images import Images
from pincus.core.profiles import check_profiles_exist, expand, root_disk_pool
from pincus.core.state import State
from pincus.db.records import InstanceRecord, JournalRecord
from pincus.db.schema import CREATING, DELETING, READY
from pincus.db.store import db_time
from pincus.runtime.base import FROZEN, STOPPED
from pincus.storage.drivers.base import CONTAINER, Freezer, Volume

Devices = dict[str, dict[str, str]]
RENAME = "rename"  # journal kind: an instance rename; its one phase
STARTED = "started"
NEVER_USED = datetime(1970, 1, 1, tzinfo=timezone.utc)  # Incus's last_used_at of a never-started instance


def stamp_new(rec: InstanceRecord, template: str) -> None:
    """The volatile keys of a new instance: identity, and the template trigger of its first start."""
    rec.config.setdefault("volatile.uuid", str(uuid.uuid4()))
    rec.config.setdefault("volatile.uuid.generation", rec.config["volatile.uuid"])
    rec.config.setdefault("volatile.cloud-init.instance-id", str(uuid.uuid4()))
    rec.config.pop("volatile.last_state.power", None)  # set at the first start, as Incus
    rec.config["volatile.apply_template"] = template


def check_settled(rec: InstanceRecord) -> None:
    """Refuse a change to an instance whose interrupted change recovery could not settle yet."""
    if rec.error:
        raise Conflict(f'Instance "{rec.name}" has an unfinished change that could not be settled '
                       f"(it is retried at every daemon start and every minute): {rec.error}")


def instance_url(name: str) -> str:
    """API path of an instance."""
    return f"/1.0/instances/{name}"


class Instances:
    """Instance lifecycle rules on top of the store, the storage drivers and the runtime."""

    def __init__(self, st: State, images: Images) -> None:
        self.st = st
        self.images = images

    # lookups ---------------------------------------------------------------------------------

    def get(self, name: str) -> InstanceRecord:
        """A ready instance by name; a name with a snapshot part is refused as Incus does."""
        if "/" in name:
            raise InvalidArgument("Invalid instance name")
        return self.st.store.get_instance(name)

    @asynccontextmanager
    async def changing(self, name: str, unsettled_ok: bool = False) -> AsyncIterator[InstanceRecord]:
        """Hold the instance's lock and yield its record, for a change. An instance whose last
        interrupted change recovery could not settle (``error``) refuses changes until it is settled
        (at every daemon start and scheduler tick), except those that pass ``unsettled_ok``."""
        async with self.st.locks.hold(f"instance:{name}"):
            rec = self.get(name)
            if not unsettled_ok:
                check_settled(rec)
            yield rec

    @asynccontextmanager
    async def reading(self, name: str) -> AsyncIterator[InstanceRecord]:
        """Hold the instance's lock shared (writers wait) and yield its record, for a reader that
        needs one consistent state for a while: a copy, a publish, a transfer."""
        async with self.st.locks.share(f"instance:{name}"):
            yield self.get(name)

    def expanded(self, rec: InstanceRecord) -> tuple[dict[str, str], Devices]:
        """Effective config and devices (profiles applied)."""
        return expand(self.st.store, rec.profiles, rec.config, rec.devices)

    def volume(self, rec: InstanceRecord) -> Volume:
        """The storage volume of an instance."""
        return Volume(rec.pool, CONTAINER, rec.name)

    def rootfs(self, rec: InstanceRecord) -> Path:
        """The instance's root filesystem on the host."""
        return self.st.driver(rec.pool).volume_path(self.volume(rec)) / "rootfs"

    def status(self, rec: InstanceRecord) -> str:
        """Running, Stopped or Frozen, from the runtime."""
        return self.st.runtime.state(self.st.runtime_name(rec.name)).status

    def freezer(self, rec: InstanceRecord) -> Freezer | None:
        """A freeze context for copying a running instance's volume; None when it is stopped."""
        status = self.status(rec)
        if status == STOPPED:
            return None
        runtime, rt_name = self.st.runtime, self.st.runtime_name(rec.name)

        @contextmanager
        def already_frozen() -> Iterator[None]:
            yield  # the user froze it: keep it frozen afterwards

        if status == FROZEN:
            return already_frozen

        @contextmanager
        def freeze() -> Iterator[None]:
            runtime.freeze(rt_name)
            try:
                yield
            finally:
                runtime.unfreeze(rt_name)

        return freeze

    def is_running(self, rec: InstanceRecord) -> bool:
        """True when running or frozen."""
        return self.status(rec) != STOPPED

    # create ----------------------------------------------------------------------------------

    def prepare(self, req: dict[str, Any]) -> tuple[InstanceRecord, dict[str, Any]]:
        """Validate an InstancesPost body; return the record to create and its source."""
        name = req.get("name") or names.random_instance_name()
        names.validate_instance_name(name)
        if req.get("type", "container") not in ("container", ""):
            raise InvalidArgument("Virtual machines are not supported by this server")
        if self._exists_any(name):
            raise Conflict(f'Instance "{name}" already exists')
        profiles = req.get("profiles")
        profiles = ["default"] if profiles is None else list(profiles)
        check_profiles_exist(self.st.store, profiles)
        config = {str(k): str(v) if not isinstance(v, str) else v for k, v in (req.get("config") or {}).items()}
        devices = {str(k): {str(a): str(b) for a, b in v.items()} for k, v in (req.get("devices") or {}).items()}
        validate_config(config)
        _, exp_devices = expand(self.st.store, profiles, config, devices)
        pool = root_disk_pool(exp_devices)
        self.st.driver(pool)
        now = db_time(self.st.clock())
        rec = InstanceRecord(
            name=name, pool=pool, created_at=now, last_used_at=db_time(NEVER_USED),
            architecture="x86_64", ephemeral=bool(req.get("ephemeral", False)),
            description=str(req.get("description", "")), config=config, devices=devices, profiles=profiles,
        )
        source = dict(req.get("source") or {"type": "none"})
        if source.get("type") not in ("image", "copy", "migration", "none", ""):
            raise InvalidArgument(f"Unknown source type {source.get('type')}")
        return rec, source

    def _exists_any(self, name: str) -> bool:
        return any(r.name == name for r in self.st.store.instances(include_pending=True))

    async def create(self, rec: InstanceRecord, source: dict[str, Any]) -> InstanceRecord:
        """Create the record and its volume; on any failure nothing is left."""
        kind = source.get("type") or "none"
        # A copy reads its source for a while: restores, deletes and renames of it wait.
        readers = [f"instance:{str(source.get('source', '')).partition('/')[0]}"] if kind == "copy" else []
        async with self.st.locks.hold_all([f"instance:{rec.name}"], readers):
            with Reverter() as rev:
                stamp_new(rec, "copy" if kind == "copy" else "create")
                if kind == "image":
                    image = self.images.resolve(source)
                    rec.architecture = image.architecture
                    rec.config["volatile.base_image"] = image.fingerprint
                    for key, value in image.properties.items():
                        rec.config.setdefault(f"image.{key}", value)
                rec.pending = CREATING
                self.st.store.create_instance(rec)
                rev.add(lambda: self.st.store.delete_instance(rec.id))
                vol = self.volume(rec)
                driver = self.st.driver(rec.pool)
                if kind == "image":
                    image_vol = await self.images.ensure_volume(image, rec.pool)
                    await self.st.blocking(driver.create_volume_from_copy, vol, image_vol)
                elif kind == "copy":
                    await self._create_from_copy(rec, source)
                else:
                    await self.st.blocking(driver.create_volume, vol, lambda p: (p / "rootfs").mkdir(mode=0o755))
                rev.add(lambda: driver.delete_volume(vol))
                rec.pending = READY
                self.st.store.update_instance(rec)
                rev.success()
        self.st.hub.lifecycle(INSTANCE_CREATED, instance_url(rec.name))
        return rec

    async def _create_from_copy(self, rec: InstanceRecord, source: dict[str, Any]) -> None:
        """Copy an instance (with its snapshots unless instance_only) or one snapshot into rec."""
        src_name = str(source.get("source", ""))
        inst_name, _, snap_name = src_name.partition("/")
        src = self.get(inst_name)
        src_vol = self.volume(src)
        driver = self.st.driver(rec.pool)
        if src.pool != rec.pool:
            raise InvalidArgument("Copying between storage pools is not supported yet")
        if snap_name:
            snap = self.st.store.get_snapshot(src, snap_name)
            local = {k: v for k, v in snap.config.items() if not k.startswith("volatile.")}
            rec.config = {**local, **rec.config}
            await self.st.blocking(driver.create_volume_from_copy, self.volume(rec), src_vol.snapshot(snap.name))
            return
        keep = {k: v for k, v in rec.config.items() if k.startswith("volatile.")}
        local = {k: v for k, v in {**src.config, **rec.config}.items() if not k.startswith("volatile.")}
        rec.config = {**local, **keep}
        self.st.store.update_instance(rec)
        await self.st.blocking(driver.create_volume_from_copy, self.volume(rec), src_vol, self.freezer(src))
        if source.get("instance_only"):
            return
        for snap in self.st.store.snapshots(src.id):
            copy = type(snap)(**{**snap.__dict__, "id": 0, "instance_id": rec.id})
            self.st.store.create_snapshot(copy, rec.name)
            dst = self.volume(rec).snapshot(snap.name)
            await self.st.blocking(driver.create_volume_from_copy, dst, src_vol.snapshot(snap.name))

    # update / rename / delete -----------------------------------------------------------------

    async def update(self, name: str, put: dict[str, Any], patch: bool) -> None:
        """Apply an InstancePut (PUT replaces, PATCH merges) to config, devices, profiles."""
        async with self.changing(name) as rec:
            volatile = {k: v for k, v in rec.config.items() if k.startswith("volatile.")}
            if "config" in put and put["config"] is not None:
                config = {str(k): str(v) for k, v in put["config"].items()}
                new = {**rec.config, **config} if patch else {**config, **volatile}
                validate_config({k: v for k, v in new.items() if not k.startswith("volatile.")})
                rec.config = new
            if "devices" in put and put["devices"] is not None:
                devices = {k: {a: str(b) for a, b in v.items()} for k, v in put["devices"].items()}
                rec.devices = {**rec.devices, **devices} if patch else devices
            if put.get("profiles") is not None:
                check_profiles_exist(self.st.store, list(put["profiles"]))
                rec.profiles = list(put["profiles"])
            if "description" in put and put["description"] is not None:
                rec.description = str(put["description"])
            if "ephemeral" in put and put["ephemeral"] is not None:
                rec.ephemeral = bool(put["ephemeral"])
            _, devices_exp = self.expanded(rec)
            if root_disk_pool(devices_exp) != rec.pool:
                raise InvalidArgument("Changing the root disk pool of an existing instance is not supported")
            self.st.store.update_instance(rec)
        self.st.hub.lifecycle(INSTANCE_UPDATED, instance_url(name))

    async def rename(self, name: str, new_name: str) -> None:
        """Rename a stopped instance, its volume and its snapshots (journaled: a crash at any step
        is finished by recovery)."""
        names.validate_instance_name(new_name)
        async with self.st.locks.hold_all([f"instance:{name}", f"instance:{new_name}"]):  # both names
            rec = self.get(name)
            check_settled(rec)
            if self.is_running(rec):
                raise InvalidArgument("Renaming of running instance not allowed")
            if self._exists_any(new_name):
                raise Conflict(f'Name "{new_name}" already in use')
            entry = JournalRecord(rec.id, RENAME, STARTED, {"old": name, "new": new_name})
            self.st.journal.add(entry)
            try:
                failpoints.hit("rename-journaled")
                await self.st.blocking(self.st.driver(rec.pool).rename_volume, self.volume(rec), new_name)
            except BaseException:
                self.st.journal.remove(entry)  # the driver undid its own partial rename
                raise
            failpoints.hit("rename-volume-renamed")
            await self.finish_rename(rec, entry)
        self.st.hub.lifecycle(INSTANCE_RENAMED, instance_url(new_name), {"old_name": name})

    async def finish_rename(self, rec: InstanceRecord, entry: JournalRecord) -> None:
        """Complete a journaled rename: the volume (resumable), then the row and the journal at once."""
        old, new = str(entry.data["old"]), str(entry.data["new"])
        if rec.name == old:
            await self.st.blocking(self.st.driver(rec.pool).rename_volume, Volume(rec.pool, CONTAINER, old), new)
        with self.st.store.transaction():
            rec.name = new
            self.st.store.update_instance(rec)
            self.st.journal.remove(entry)
        await self.st.blocking(self.st.runtime.forget, self.st.runtime_name(old))

    async def delete(self, name: str) -> None:
        """Delete a stopped, unprotected instance with its snapshots (an instance whose interrupted
        change could not be settled may be deleted too: that settles it)."""
        async with self.changing(name, unsettled_ok=True) as rec:
            config, _ = self.expanded(rec)
            if self.is_running(rec):
                raise InvalidArgument("Instance is running")
            if is_true(config.get("security.protection.delete")):
                raise InvalidArgument("Instance is protected")
            rec.pending = DELETING
            self.st.store.update_instance(rec)
            await self.finish_delete(rec)
        self.st.hub.lifecycle(INSTANCE_DELETED, instance_url(name))

    async def finish_delete(self, rec: InstanceRecord) -> None:
        """Remove the volume (snapshots included), runtime files and the row of a DELETING instance."""
        driver = self.st.driver(rec.pool)
        await self.st.blocking(driver.abort_restore, self.volume(rec))  # a staged restore left unsettled
        await self.st.blocking(driver.delete_volume, self.volume(rec))
        await self.st.blocking(self.st.runtime.forget, self.st.runtime_name(rec.name))
        self.st.store.delete_instance(rec.id)
