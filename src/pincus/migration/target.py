"""The receiving side: create an instance from a peer, or refresh an existing copy of it.

Order of a refresh, so that an interruption anywhere leaves the target usable and the next refresh
completes it: new snapshots land aside and are each renamed into place (row and volume together,
as a local snapshot); the instance volume lands aside and is swapped in at the end; only then do
the config change and the deletions of snapshots the source no longer has happen.

Beyond Incus, keys on the target instance (never overwritten by a refresh):
``refresh.keep_snapshots`` keeps target snapshots the source has dropped, ``refresh.keep_config``
lists target keys (``key`` or ``prefix*``) a refresh leaves alone, and ``refresh.snapshots.expiry``
gives received snapshots the target's own expiry, counted from their creation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from pincus.base import failpoints
from pincus.base.errors import Conflict, InvalidArgument, NotFound
from pincus.base.revert import Reverter
from pincus.core import expiry as expiry_mod
from pincus.core.config_keys import is_true, validate_config
from pincus.core.events import INSTANCE_CREATED, INSTANCE_UPDATED, SNAPSHOT_CREATED
from pincus.core.instances import instance_url, stamp_new
from pincus.core.profiles import check_profiles_exist, expand, root_disk_pool
from pincus.core.snapshots import snapshot_url
from pincus.db.records import InstanceRecord, SnapshotRecord
from pincus.db.schema import CREATING, READY
from pincus.db.store import db_time, from_db_time
from pincus.migration import header as header_mod
from pincus.migration import streams
from pincus.migration.plan import Item, SnapInfo, plan_transfer
from pincus.migration.volumes import BTRFS, RSYNC, Receiver, Staging, is_btrfs, received_uuid
from pincus.migration.wire import Meter, Wire, exchange

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pincus.core.services import Services

log = logging.getLogger(__name__)
NEVER = datetime.min.replace(tzinfo=UTC)
KEEP_PREFIX = "refresh."


@dataclass
class Options:
    """What the request asks of the transfer."""

    refresh: bool = False
    instance_only: bool = False
    exclude_older: bool = False
    keep_target_snapshots: bool = False


def _kept(target: dict[str, str]) -> Callable[[str], bool]:
    """Whether a key is the target's own: ``refresh.*`` and the ``refresh.keep_config`` names."""
    patterns = [p.strip() for p in target.get("refresh.keep_config", "").split(",") if p.strip()]
    return lambda key: key.startswith(KEEP_PREFIX) or any(fnmatchcase(key, p) for p in patterns)


def preserved(target: dict[str, str]) -> dict[str, str]:
    """The target keys a refresh keeps."""
    kept = _kept(target)
    return {k: v for k, v in target.items() if kept(k)}


def refreshed_config(target: dict[str, str], incoming: dict[str, str]) -> dict[str, str]:
    """The target's config after a refresh: the source's, but the target's own volatile and kept keys."""
    kept = _kept(target)
    out = {k: v for k, v in incoming.items() if not k.startswith("volatile.") and not kept(k)}
    out.update({k: v for k, v in target.items() if k.startswith("volatile.") or kept(k)})
    return out


def fit_root_pool(s: Services, body: dict[str, Any]) -> dict[str, Any]:
    """A root disk naming a pool this server lacks uses the profiles' pool instead, as Incus."""
    devices = {k: dict(v) for k, v in (body.get("devices") or {}).items()}
    root = next((k for k, d in devices.items() if d.get("type") == "disk" and d.get("path") == "/"), None)
    if root is None or devices[root].get("pool", "") in s.st.drivers:
        return body
    profiles = body.get("profiles")
    _, from_profiles = expand(s.st.store, ["default"] if profiles is None else list(profiles), {}, {})
    try:
        devices[root]["pool"] = root_disk_pool(from_profiles)
    except InvalidArgument:
        return body  # prepare() names the missing pool
    return {**body, "devices": devices}


class Target:
    """Receive into instance ``req["name"]`` of this daemon."""

    def __init__(self, s: Services, req: dict[str, Any], opts: Options, report: Callable[[str], None] | None = None) -> None:
        self.s, self.req, self.opts, self.report = s, req, opts, report
        self.rec: InstanceRecord | None = None
        self.new = False
        self.staged: list[Staging] = []
        self.receiver: Receiver | None = None

    async def run(self, wire: Wire) -> InstanceRecord:
        """The whole exchange; the peer hears of any failure."""
        try:
            rec = await self._run(wire)
        except Exception as exc:
            await wire.send_error(str(exc) or type(exc).__name__)
            raise
        self.s.st.hub.lifecycle(INSTANCE_CREATED if self.new else INSTANCE_UPDATED, instance_url(rec.name))
        return rec

    def _incoming(self, hdr: dict[str, Any]) -> dict[str, Any]:
        """Config, devices, profiles: the request's (the client built them from the source) else the header's."""
        inst = hdr["instance"]
        out = {}
        for key in ("config", "devices", "profiles"):
            value = self.req.get(key)
            out[key] = value if value is not None else inst[key]
        out["config"] = {str(k): str(v) for k, v in out["config"].items()
                         if not str(k).startswith("volatile.") or k == "volatile.base_image"}
        return out

    async def _run(self, wire: Wire) -> InstanceRecord:
        s = self.s
        hdr = header_mod.check(await wire.recv("header"))
        name = str(self.req.get("name") or hdr["instance"]["name"])
        async with s.st.locks.hold(f"instance:{name}"):
            with Reverter() as rev:
                rec = self._existing(name) if self.opts.refresh else None
                if rec is None:
                    rec = self._create_record(name, hdr, rev)
                else:
                    await self._check_refreshable(rec, hdr)
                self.rec = rec
                await self._transfer(wire, rec, hdr, rev)
                rev.success()
        return rec

    def _existing(self, name: str) -> InstanceRecord | None:
        try:
            return self.s.instances.get(name)
        except NotFound:
            return None  # a refresh of a missing instance is a copy, as Incus

    async def _check_refreshable(self, rec: InstanceRecord, hdr: dict[str, Any]) -> None:
        if self.s.instances.is_running(rec):
            raise InvalidArgument(f'Instance "{rec.name}" is running: stop it before refreshing it')
        incoming = self._incoming(hdr)
        check_profiles_exist(self.s.st.store, list(incoming["profiles"]))
        validate_config({k: v for k, v in refreshed_config(rec.config, incoming["config"]).items()
                         if not k.startswith("volatile.")})

    def _create_record(self, name: str, hdr: dict[str, Any], rev: Reverter) -> InstanceRecord:
        s = self.s
        inst = hdr["instance"]
        body = {**self._incoming(hdr), "name": name, "ephemeral": self.req.get("ephemeral", inst["ephemeral"]),
                "description": self.req.get("description", inst["description"]), "source": {"type": "migration"}}
        rec, _ = s.instances.prepare(fit_root_pool(s, body))
        rec.architecture = inst["architecture"]
        stamp_new(rec, "copy")
        rec.pending = CREATING
        s.st.store.create_instance(rec)
        self.new = True
        rev.add(lambda: self._undo_create(rec))
        return rec

    def _undo_create(self, rec: InstanceRecord) -> None:
        self.s.st.driver(rec.pool).delete_volume(self.s.instances.volume(rec))
        self.s.st.store.delete_instance(rec.id)

    async def _transfer(self, wire: Wire, rec: InstanceRecord, hdr: dict[str, Any], rev: Reverter) -> None:
        s = self.s
        driver = s.st.driver(rec.pool)
        vol = s.instances.volume(rec)
        transport = BTRFS if hdr["driver"] == "btrfs" and is_btrfs(driver) and not hdr["nested"] else RSYNC
        mine = [] if self.new else s.snapshots.list(rec)
        theirs = [SnapInfo(x["name"], header_mod.created(x), uuid=x["uuid"]) for x in hdr["snapshots"]]
        held = [SnapInfo(m.name, from_db_time(m.created_at) or NEVER, received_uuid=await s.st.blocking(received_uuid, driver, vol.snapshot(m.name)))
                for m in mine]
        keep = self.opts.keep_target_snapshots or is_true(rec.config.get("refresh.keep_snapshots"))
        plan = plan_transfer(theirs, held, snapshots=not self.opts.instance_only,
                             exclude_older=self.opts.exclude_older, keep_target=keep, btrfs=transport == BTRFS)
        await wire.send("plan", transport=transport,
                        items=[{"name": i.name, "parent": i.parent} for i in plan.items])
        self.receiver = Receiver(driver, vol, transport)
        by_name = {x["name"]: x for x in hdr["snapshots"]}
        live: Staging | None = None
        try:
            for item in plan.items:
                if item.name:
                    await self._snapshot(wire, rec, item, transport, by_name[item.name])
                else:
                    live = await self._receive(wire, item, transport)
            assert live is not None
            failpoints.hit("migration-volume-received")
            garbage = await s.st.blocking(self.receiver.commit_live, live)
            live = None
        finally:
            for leftover in ([live] if live is not None else []) + self.staged:
                await s.st.blocking(self.receiver.abort, leftover)
            self.staged.clear()
        await self._finish(rec, hdr, plan.delete)
        await wire.send("done")
        for path in garbage:
            self.s.st.background(self.s.st.blocking(driver.delete_path, path), f"deleting {path}")

    async def _receive(self, wire: Wire, item: Item, transport: str) -> Staging:
        assert self.receiver is not None
        receiver = self.receiver
        if item.name:
            staging = await self.s.st.blocking(receiver.stage_snapshot, item.name, item.base)
        else:
            staging = await self.s.st.blocking(receiver.stage_live, item.base)
        self.staged.append(staging)
        await wire.send("begin", dest=staging.dest, link=staging.link)
        stream = streams.Stream()
        try:
            if transport == BTRFS:
                local = await streams.btrfs_receive(stream, staging.module_root)
            else:
                local = await streams.rsync_receive(stream, staging.module_root)
            meter = Meter(item.name or "instance", self.report)
            await exchange(wire, local, meter)
            log.info("received %s of %s over %s: %d bytes in %.2fs", item.name or "the instance volume",
                     self.req.get("name"), transport, meter.total, meter.elapsed())
        finally:
            await stream.cleanup()
        return staging

    async def _snapshot(self, wire: Wire, rec: InstanceRecord, item: Item, transport: str, src: dict[str, Any]) -> None:
        """Receive one snapshot: row (CREATING, so a crash is undone at start), stream, into place, READY."""
        s = self.s
        assert self.receiver is not None
        if s.st.store.snapshot_exists(rec.id, src["name"]):
            raise Conflict(f'Snapshot "{src["name"]}" of instance "{rec.name}" already exists')
        snap = SnapshotRecord(
            instance_id=rec.id, name=src["name"], created_at=src["created_at"], expires_at=self._expiry(rec, src),
            last_used_at=src["last_used_at"], architecture=src["architecture"], ephemeral=src["ephemeral"],
            description=src["description"], config=src["config"], devices=src["devices"], profiles=src["profiles"],
            pending=CREATING,
        )
        s.st.store.create_snapshot(snap, rec.name)
        try:
            staging = await self._receive(wire, item, transport)
            await s.st.blocking(self.receiver.commit_snapshot, staging, snap.name, src["uuid"])
        except BaseException:
            s.st.store.delete_snapshot(snap.id)
            raise
        self.staged.remove(staging)
        snap.pending = READY
        s.st.store.update_snapshot(snap)
        failpoints.hit("migration-snapshot-received")
        s.st.hub.lifecycle(SNAPSHOT_CREATED, snapshot_url(rec.name, snap.name))
        if snap.expires_at != db_time(None):
            s.snapshots.on_expiry_change()

    def _keep_pool(self, rec: InstanceRecord) -> None:
        """A refresh keeps the target's root disk pool, as Incus."""
        _, devices = self.s.instances.expanded(rec)
        if root_disk_pool(devices) == rec.pool:
            return
        root = next((k for k, d in rec.devices.items() if d.get("type") == "disk" and d.get("path") == "/"), "root")
        rec.devices[root] = {**rec.devices.get(root, {"type": "disk", "path": "/"}), "pool": rec.pool}

    def _expiry(self, rec: InstanceRecord, src: dict[str, Any]) -> str:
        spec = rec.config.get("refresh.snapshots.expiry", "")
        if not spec:
            return str(src["expires_at"])
        return db_time(expiry_mod.parse_expiry(spec, header_mod.created(src)))

    async def _finish(self, rec: InstanceRecord, hdr: dict[str, Any], delete: list[str]) -> None:
        """Config from the source (kept keys aside), deletions, and the instance is ready."""
        s = self.s
        incoming = self._incoming(hdr)
        if not self.new:
            rec.config = refreshed_config(rec.config, incoming["config"])
            rec.devices = {k: dict(v) for k, v in incoming["devices"].items()}
            rec.profiles = list(incoming["profiles"])
            self._keep_pool(rec)
            rec.architecture = hdr["instance"]["architecture"]
            for name in delete:
                try:
                    await s.snapshots.delete_locked(rec, name)
                except NotFound:
                    continue
        rec.pending = READY
        s.st.store.update_instance(rec)
