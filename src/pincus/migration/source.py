"""The sending side of a copy, refresh or move: header, then the volumes the target asks for.

The live volume is sent from a hidden read-only snapshot taken for the transfer (btrfs always; dir
when the instance runs, with the short freeze of a dir snapshot), so what arrives is consistent.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pincus.base import failpoints
from pincus.base.errors import InvalidArgument
from pincus.core import names
from pincus.migration import header as header_mod
from pincus.migration import streams
from pincus.migration.volumes import BTRFS, INNER, RSYNC, has_nested, is_btrfs, snapshot_uuid, temp_snapshot
from pincus.migration.wire import Local, Meter, TransferError, Wire, exchange
from pincus.storage.drivers.base import StorageDriver, Volume

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pincus.core.services import Services

log = logging.getLogger(__name__)


def _valid_dest(dest: str) -> bool:
    """A receiver's staging place: a snapshot's own directory, or the refresh staging inside a volume."""
    if dest.count("/") != 1 or not dest.endswith("/"):
        return False
    if dest == f"{INNER}/":
        return True
    try:
        names.validate_snapshot_name(dest[:-1])
    except InvalidArgument:
        return False
    return True


class Source:
    """Send instance ``name`` (or its snapshot ``snapshot``) over a wire."""

    def __init__(self, s: Services, name: str, snapshot: str = "", instance_only: bool = False) -> None:
        self.s, self.name, self.snapshot, self.instance_only = s, name, snapshot, instance_only
        self.temp: tuple[StorageDriver, Path] | None = None

    async def run(self, wire: Wire) -> None:
        """The whole exchange, reading the instance under its shared lock (restores, deletes and
        renames of it wait; snapshots expiring meanwhile too); the peer hears of any failure."""
        try:
            async with self.s.instances.reading(self.name):
                try:
                    await self._run(wire)
                finally:
                    await self._drop_temp()
        except Exception as exc:
            await wire.send_error(str(exc) or type(exc).__name__)
            raise

    async def _run(self, wire: Wire) -> None:
        s = self.s
        rec = s.instances.get(self.name)
        driver = s.st.driver(rec.pool)
        vol = s.instances.volume(rec)
        root = s.snapshots.get(rec, self.snapshot) if self.snapshot else None
        snaps = [] if root is not None else s.snapshots.list(rec)
        with_uuid = [(snap, await s.st.blocking(snapshot_uuid, driver, vol.snapshot(snap.name))) for snap in snaps]
        nested = await s.st.blocking(has_nested, driver, vol.snapshot(root.name) if root else vol)
        await wire.send("header", **header_mod.build(driver.info.name, nested, rec, with_uuid, root))
        plan = await wire.recv("plan")
        transport = plan.get("transport")
        if transport not in (BTRFS, RSYNC) or (transport == BTRFS and not is_btrfs(driver)):
            raise TransferError(f"The migration peer asked for an unusable transport {transport!r}")
        known = {snap.name for snap in snaps}
        items = plan.get("items")
        if not isinstance(items, list):
            raise TransferError("The migration peer sent a malformed plan")
        for item in items:
            await self._send_item(wire, transport, rec.name, vol, root.name if root else "", known, item)
        await wire.recv("done")

    async def _send_item(self, wire: Wire, transport: str, inst: str, vol: Volume, root: str,
                         known: set[str], item: Any) -> None:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise TransferError("The migration peer sent a malformed plan")
        name, parent = item["name"], str(item.get("parent") or "")
        if (name and name not in known) or (parent and parent not in known):
            raise TransferError(f'The migration peer asked for a snapshot this instance does not have: "{name or parent}"')
        driver = self.s.st.driver(vol.pool)
        if name:
            path = driver.volume_path(vol.snapshot(name))
        elif root:
            path = driver.volume_path(vol.snapshot(root))
        else:
            path = await self._live_path(inst, vol)
        begin = await wire.recv("begin")  # the target has its staging place ready
        stream = streams.Stream()
        try:
            if transport == BTRFS:
                local = await streams.btrfs_send(stream, path, driver.volume_path(vol.snapshot(parent)) if parent else None)
            else:
                local = await self._rsync(stream, path, begin)
            await exchange(wire, local, Meter(name or inst, None))
        finally:
            await stream.cleanup()
        failpoints.hit("migration-item-sent")

    async def _rsync(self, stream: streams.Stream, path: Path, begin: dict[str, Any]) -> Local:
        dest, link = str(begin.get("dest") or ""), str(begin.get("link") or "")
        if dest and not _valid_dest(dest):
            raise TransferError(f'The migration peer asked for an invalid destination "{dest}"')
        if link and link != "..":
            try:
                if not link.startswith("../"):
                    raise InvalidArgument("not relative to the parent")
                names.validate_snapshot_name(link[3:])
            except InvalidArgument:
                raise TransferError(f'The migration peer asked for an invalid base "{link}"') from None
        return await streams.rsync_send(stream, path, dest, link)

    async def _live_path(self, inst: str, vol: Volume) -> Path:
        """The tree to send for the instance itself: a temporary snapshot unless a stopped dir volume."""
        s = self.s
        driver = s.st.driver(vol.pool)
        rec = s.instances.get(inst)
        if not is_btrfs(driver) and not s.instances.is_running(rec):
            return driver.volume_path(vol)
        path = await s.st.blocking(temp_snapshot, driver, vol, s.instances.freezer(rec))
        self.temp = (driver, path)
        return path

    async def _drop_temp(self) -> None:
        if self.temp is None:
            return
        (driver, path), self.temp = self.temp, None
        try:
            await self.s.st.blocking(driver.delete_path, path)
        except Exception:  # noqa: BLE001 - recovery at the next start removes it
            log.exception("could not delete the transfer snapshot %s", path)
