"""Instance snapshots: create, delete, rename, expiry, restore, and expiry pruning.

A snapshot is a database row plus a read-only volume. Both appear together or not at all:
the row is written as CREATING before the volume and marked READY after it; deletion marks
DELETING first. recover() at daemon start finishes or undoes whatever a crash interrupted.
"""

from __future__ import annotations

import builtins
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pincus.base import failpoints
from pincus.base.errors import Conflict, InvalidArgument, NotFound, NotSupported
from pincus.base.gotime import local_now, parse_optional_time
from pincus.base.revert import Reverter
from pincus.core import expiry as expiry_mod
from pincus.core import names, pattern, schedule
from pincus.core.events import (
    INSTANCE_RESTORED,
    SNAPSHOT_CREATED,
    SNAPSHOT_DELETED,
    SNAPSHOT_RENAMED,
    SNAPSHOT_UPDATED,
)
from pincus.core.instances import Instances, instance_url
from pincus.core.lifecycle import Lifecycle
from pincus.core.state import State
from pincus.db.records import InstanceRecord, JournalRecord, SnapshotRecord
from pincus.db.schema import CREATING, DELETING, READY
from pincus.db.store import db_time, from_db_time
from pincus.runtime.base import STOPPED

log = logging.getLogger(__name__)

DEFAULT_PATTERN = "snap%d"
# Journal kinds and phases (db/journal.py): a restore stages, then commits; a rename just starts.
RESTORE, SNAPSHOT_RENAME = "restore", "snapshot-rename"
# A restore whose disk and config are settled stays journaled as RESTARTING until the instance has
# its power state back, so a crash in between still restarts it.
STAGING, COMMITTING, RESTARTING, REDO, STARTED = "staging", "committing", "restarting", "redo", "started"
STATEFUL_REFUSED = (
    "Stateful snapshots are not supported on this server: they need CRIU to checkpoint the "
    "container's processes, and CRIU cannot run on this host's kernel"
)


def snapshot_url(instance: str, snapshot: str) -> str:
    """API path of a snapshot."""
    return f"/1.0/instances/{instance}/snapshots/{snapshot}"


class Snapshots:
    """Snapshot rules; every change holds the instance's lock."""

    def __init__(self, st: State, instances: Instances, lifecycle: Lifecycle) -> None:
        self.st = st
        self.instances = instances
        self.lifecycle = lifecycle
        self.on_expiry_change: Callable[[], None] = lambda: None

    def list(self, rec: InstanceRecord) -> list[SnapshotRecord]:
        """Ready snapshots of an instance, oldest first."""
        return self.st.store.snapshots(rec.id)

    def get(self, rec: InstanceRecord, name: str) -> SnapshotRecord:
        """One snapshot by bare name."""
        return self.st.store.get_snapshot(rec, name)

    # create ----------------------------------------------------------------------------------

    def check_create(self, rec: InstanceRecord, name: str, stateful: bool) -> None:
        """Refuse what cannot be created before an operation is started."""
        if stateful:
            raise NotSupported(STATEFUL_REFUSED)
        if name:
            names.validate_snapshot_name(name)
            if self.st.store.snapshot_exists(rec.id, name):
                raise Conflict(f'Snapshot "{name}" of instance "{rec.name}" already exists')

    def expiry_for(self, config: dict[str, str], requested: str | None, manual: bool, now: datetime) -> datetime | None:
        """When a new snapshot expires: the request's date, else snapshots.expiry(.manual) from now."""
        if requested is not None:
            return parse_optional_time(requested)
        spec = config.get("snapshots.expiry", "")
        if manual and config.get("snapshots.expiry.manual"):
            spec = config["snapshots.expiry.manual"]
        return expiry_mod.parse_expiry(spec, now) if spec else None

    async def create(
        self, inst_name: str, name: str = "", stateful: bool = False,
        expires_at: str | None = None, manual: bool = True,
    ) -> SnapshotRecord:
        """Take a snapshot (of a running instance too); complete or absent, never half-made."""
        async with self.instances.changing(inst_name) as rec:
            self.check_create(rec, name, stateful)
            config, _ = self.instances.expanded(rec)
            now = local_now(self.st.clock())
            if not name:
                existing = [s.name for s in self.st.store.snapshots(rec.id, include_pending=True)]
                name = pattern.next_snapshot_name(config.get("snapshots.pattern") or DEFAULT_PATTERN, existing, now)
                names.validate_snapshot_name(name)
            expiry = self.expiry_for(config, expires_at, manual, now)
            snap = SnapshotRecord(
                instance_id=rec.id, name=name, created_at=db_time(now), expires_at=db_time(expiry),
                last_used_at=db_time(None), architecture=rec.architecture, ephemeral=rec.ephemeral,
                config=dict(rec.config), devices=dict(rec.devices), profiles=list(rec.profiles), pending=CREATING,
                scheduled=not manual,
            )
            driver = self.st.driver(rec.pool)
            snap_vol = self.instances.volume(rec).snapshot(name)
            with Reverter() as rev:
                self.st.store.create_snapshot(snap, rec.name)
                rev.add(lambda: self.st.store.delete_snapshot(snap.id))
                failpoints.hit("snapshot-row-created")
                await self.st.blocking(driver.create_snapshot, snap_vol, self.instances.freezer(rec))
                rev.add(lambda: driver.delete_snapshot(snap_vol))
                failpoints.hit("snapshot-volume-created")
                snap.pending = READY
                self.st.store.update_snapshot(snap)
                rev.success()
        self.st.hub.lifecycle(SNAPSHOT_CREATED, snapshot_url(inst_name, name))
        if snap.expires_at != db_time(None):
            self.on_expiry_change()
        return snap

    # delete / rename / update ----------------------------------------------------------------

    async def delete(self, inst_name: str, name: str) -> None:
        """Delete one snapshot (row marked first, so a crash finishes the delete at restart)."""
        async with self.instances.changing(inst_name) as rec:
            await self._delete(rec, self.get(rec, name))
        self.st.hub.lifecycle(SNAPSHOT_DELETED, snapshot_url(inst_name, name))

    async def delete_locked(self, rec: InstanceRecord, name: str) -> None:
        """Delete one snapshot of an instance whose lock the caller holds."""
        await self._delete(rec, self.get(rec, name))
        self.st.hub.lifecycle(SNAPSHOT_DELETED, snapshot_url(rec.name, name))

    async def _delete(self, rec: InstanceRecord, snap: SnapshotRecord) -> None:
        snap.pending = DELETING
        self.st.store.update_snapshot(snap)
        failpoints.hit("snapshot-delete-marked")
        driver = self.st.driver(rec.pool)
        await self.st.blocking(driver.delete_snapshot, self.instances.volume(rec).snapshot(snap.name))
        self.st.store.delete_snapshot(snap.id)

    async def rename(self, inst_name: str, name: str, new_name: str) -> None:
        """Rename a snapshot; the new name must be free (journaled, as an instance rename)."""
        if not new_name:
            raise InvalidArgument("A new name for the snapshot must be provided")
        names.validate_snapshot_name(new_name)
        async with self.instances.changing(inst_name) as rec:
            snap = self.get(rec, name)
            if self.st.store.snapshot_exists(rec.id, new_name):
                raise Conflict(f"Name '{inst_name}/{new_name}' already in use")
            entry = JournalRecord(rec.id, SNAPSHOT_RENAME, STARTED, {"snapshot": snap.id, "old": name, "new": new_name})
            self.st.journal.add(entry)
            try:
                failpoints.hit("snapshot-rename-journaled")
                snap_vol = self.instances.volume(rec).snapshot(name)
                await self.st.blocking(self.st.driver(rec.pool).rename_snapshot, snap_vol, new_name)
            except BaseException:
                self.st.journal.remove(entry)
                raise
            failpoints.hit("snapshot-rename-volume-renamed")
            await self.finish_rename(rec, snap, entry)
        self.st.hub.lifecycle(SNAPSHOT_RENAMED, snapshot_url(inst_name, new_name), {"old_name": name})

    async def finish_rename(self, rec: InstanceRecord, snap: SnapshotRecord, entry: JournalRecord) -> None:
        """Complete a journaled snapshot rename: the volume (idempotent), then row and journal at once."""
        old, new = str(entry.data["old"]), str(entry.data["new"])
        snap_vol = self.instances.volume(rec).snapshot(old)
        await self.st.blocking(self.st.driver(rec.pool).rename_snapshot, snap_vol, new)
        with self.st.store.transaction():
            snap.name = new
            self.st.store.update_snapshot(snap)
            self.st.journal.remove(entry)

    async def update(self, inst_name: str, name: str, put: dict[str, Any]) -> None:
        """Change a snapshot's expiry (the only editable field); no expires_at: no change."""
        async with self.instances.changing(inst_name) as rec:
            snap = self.get(rec, name)
            if "expires_at" not in put or put["expires_at"] is None:
                return
            snap.expires_at = db_time(parse_optional_time(str(put["expires_at"])))
            self.st.store.update_snapshot(snap)
        self.st.hub.lifecycle(SNAPSHOT_UPDATED, snapshot_url(inst_name, name))
        self.on_expiry_change()

    # restore ---------------------------------------------------------------------------------

    def resolve_restore(self, rec: InstanceRecord, restore: str) -> SnapshotRecord:
        """The snapshot named by InstancePut.restore (``snap`` or ``inst/snap``)."""
        inst_part, _, snap_part = restore.rpartition("/")
        if inst_part and inst_part != rec.name:
            raise InvalidArgument(f'Snapshot "{restore}" does not belong to instance "{rec.name}"')
        return self.get(rec, snap_part)

    async def restore(self, inst_name: str, restore: str, stateful: bool = False, disk_only: bool = False) -> None:
        """Restore a snapshot: stop if running, stage the restored tree, swap it in in one step, apply
        the snapshot's config, give the power state back. Journaled: a failure before the swap leaves
        the instance exactly as it was (data and power), a crash is rolled back before the swap and
        forward after it."""
        if stateful:
            raise NotSupported(STATEFUL_REFUSED)
        async with self.instances.changing(inst_name) as rec:
            snap = self.resolve_restore(rec, restore)
            power = self.instances.status(rec)
            entry = JournalRecord(rec.id, RESTORE, STAGING, {"snapshot": snap.name, "disk_only": disk_only, "power": power})
            self.st.journal.add(entry)
            driver, vol = self.st.driver(rec.pool), self.instances.volume(rec)
            try:
                await self.lifecycle.stop_for_change(rec)
                failpoints.hit("restore-stopped")
                await self.st.blocking(driver.stage_restore, vol, vol.snapshot(snap.name))
                failpoints.hit("restore-staged")
            except BaseException:
                await self.abort_restore(rec, entry)
                raise
            self.st.journal.set_phase(entry, COMMITTING)
            failpoints.hit("restore-intent-recorded")
            await self.commit_restore(rec, snap, entry)
            failpoints.hit("restore-committed")
            await self.give_back(rec, entry)
        self.st.hub.lifecycle(INSTANCE_RESTORED, instance_url(inst_name), {"snapshot": snap.name})

    async def abort_restore(self, rec: InstanceRecord, entry: JournalRecord) -> None:
        """Undo a restore that has not swapped: drop the staged tree, forget the entry, give the
        power state back. If that cannot be done, the entry stays for recovery and the instance is
        marked (its live tree may lack what the staging took, so it is not started)."""
        driver, vol = self.st.driver(rec.pool), self.instances.volume(rec)
        try:
            undone = await self.st.blocking(driver.abort_restore, vol)
        except Exception as exc:  # noqa: BLE001 - the caller raises the original error
            log.exception('Failed undoing the restore of instance "%s"', rec.name)
            self.mark_unsettled(rec, f"undoing an interrupted restore failed: {exc}")
            return
        if not undone:
            self.mark_unsettled(rec, "a restore stopped halfway through its swap")
            return
        self.st.journal.set_phase(entry, RESTARTING)
        await self.give_back(rec, entry)

    async def give_back(self, rec: InstanceRecord, entry: JournalRecord) -> None:
        """The last step of a restore, done or undone: the instance's power state back, then the entry
        goes (a start that fails is reported, and the entry goes all the same: the disk is settled)."""
        try:
            await self.lifecycle.give_back(rec, str(entry.data.get("power", STOPPED)))
        finally:
            self.st.journal.remove(entry)

    async def commit_restore(self, rec: InstanceRecord, snap: SnapshotRecord, entry: JournalRecord) -> None:
        """Swap the staged tree in (resumable), then apply the snapshot's config and move the entry to
        RESTARTING in one transaction; a commit the driver undid falls back to an abort."""
        driver, vol = self.st.driver(rec.pool), self.instances.volume(rec)
        try:
            replaced = await self.st.blocking(driver.commit_restore, vol, vol.snapshot(snap.name), True)
        except Exception:
            await self.abort_restore(rec, entry)  # the driver undid its swap, unless it failed halfway
            raise
        for path in replaced:  # after the answer: the restored instance need not wait (recovery redoes it)
            self.st.background(self.st.blocking(driver.delete_path, path), f"deleting {path}")
        failpoints.hit("restore-swapped")
        if not entry.data.get("disk_only"):
            keep = {k: v for k, v in rec.config.items() if k in ("volatile.uuid", "volatile.last_state.power")}
            rec.config = {**snap.config, **keep}
            rec.devices = dict(snap.devices)
            rec.profiles = list(snap.profiles)
            rec.architecture = snap.architecture
            rec.ephemeral = snap.ephemeral
        rec.config["volatile.uuid.generation"] = str(uuid.uuid4())  # a new generation, as Incus
        rec.error = ""
        with self.st.store.transaction():
            self.st.store.update_instance(rec)
            self.st.journal.set_phase(entry, RESTARTING)

    def mark_unsettled(self, rec: InstanceRecord, error: str) -> None:
        """Record why an interrupted change of the instance is not settled (status Error until it is)."""
        rec.error = error
        self.st.store.update_instance(rec)

    async def startup_snapshot(self, inst_name: str) -> None:
        """Take the ``@startup`` snapshot of an instance that just started, if its schedule says so."""
        config, _ = self.instances.expanded(self.instances.get(inst_name))
        if schedule.has_startup(config.get("snapshots.schedule", "")):
            await self.create(inst_name, manual=False)

    # expiry ----------------------------------------------------------------------------------

    async def prune_expired(self, now: datetime) -> builtins.list[str]:  # builtins: this class defines list()
        """Delete every snapshot whose expiry is due; return their full names."""
        pruned: builtins.list[str] = []
        expired = self.st.store.expired_snapshots(db_time(now))
        by_id = {r.id: r for r in self.st.store.instances()} if expired else {}  # once, not per snapshot
        for snap in expired:
            inst = by_id.get(snap.instance_id)
            if inst is None:
                continue
            try:
                await self.delete(inst.name, snap.name)
                pruned.append(f"{inst.name}/{snap.name}")
            except NotFound:
                continue
            except Exception:  # noqa: BLE001 - one failure must not stop the others
                log.exception("failed pruning expired snapshot %s/%s", inst.name, snap.name)
        return pruned

    def next_expiry(self) -> datetime | None:
        """The earliest pending expiry, for a scheduler that sleeps until then."""
        value = self.st.store.next_expiry()
        return from_db_time(value) if value else None
