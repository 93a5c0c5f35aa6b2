"""/1.0/instances/{name}/snapshots[/{snapshot}] (like cmd/incusd/instance_snapshot.go)."""

from __future__ import annotations

from aiohttp import web

from pincus.api import migration, render
from pincus.api.body import read_body
from pincus.api.context import svc
from pincus.api.response import async_op, check_etag, recursion, sync
from pincus.api.schema import InstanceSnapshotPost, InstanceSnapshotPut, InstanceSnapshotsPost
from pincus.base.errors import Conflict, InvalidArgument, NotFound
from pincus.core import names
from pincus.core.instances import instance_url
from pincus.core.operations import TASK, Operation
from pincus.core.services import Services
from pincus.core.snapshots import snapshot_url
from pincus.db.records import InstanceRecord

routes = web.RouteTableDef()


def _instance(s: Services, inst: str, snap: str) -> InstanceRecord:
    """The instance of a snapshot URL; missing, it is named with the snapshot, as Incus does."""
    try:
        return s.instances.get(inst)
    except NotFound:
        raise NotFound(f'Failed to fetch instance "{inst}/{snap}" in project "default": Instance not found') from None


def _resources(inst: str, snap: str) -> dict[str, list[str]]:
    return {"instances": [instance_url(inst)], "instances_snapshots": [snapshot_url(inst, snap)]}


@routes.get("/1.0/instances/{name}/snapshots")
async def instance_snapshots_get(request: web.Request) -> web.Response:
    """List snapshots: URLs, or objects with recursion=1."""
    s = svc(request)
    rec = s.instances.get(request.match_info["name"])
    snaps = s.snapshots.list(rec)
    if recursion(request) >= 1:
        return sync([render.snapshot(s.st, rec, snap) for snap in snaps])
    return sync([snapshot_url(rec.name, snap.name) for snap in snaps])


@routes.post("/1.0/instances/{name}/snapshots")
async def instance_snapshots_post(request: web.Request) -> web.Response:
    """Take a snapshot (InstanceSnapshotsPost: name, stateful, expires_at)."""
    s = svc(request)
    inst = request.match_info["name"]
    rec = s.instances.get(inst)
    req = await read_body(request, InstanceSnapshotsPost)
    name = req.name or ""
    stateful = bool(req.stateful)
    expires_at = None if req.expires_at is None else str(req.expires_at)
    s.snapshots.check_create(rec, name, stateful)
    if not name:
        # The name is picked inside the operation; report the operation against the instance.
        resources = {"instances": [instance_url(inst)]}
    else:
        resources = _resources(inst, name)

    async def body(op: Operation) -> None:
        await s.snapshots.create(inst, name, stateful, expires_at)

    return async_op(s.st.ops.create(TASK, "Snapshotting instance", resources, body))


@routes.get("/1.0/instances/{name}/snapshots/{snapshot}")
async def instance_snapshot_get(request: web.Request) -> web.Response:
    """One snapshot; the ETag covers its expiry."""
    s = svc(request)
    rec = _instance(s, request.match_info["name"], request.match_info["snapshot"])
    snap = s.snapshots.get(rec, request.match_info["snapshot"])
    return sync(render.snapshot(s.st, rec, snap), etag=render.snapshot_etag(snap))


async def _put(request: web.Request) -> web.Response:
    s = svc(request)
    inst, name = request.match_info["name"], request.match_info["snapshot"]
    rec = _instance(s, inst, name)
    snap = s.snapshots.get(rec, name)
    check_etag(request, render.snapshot_etag(snap))
    req = await read_body(request, InstanceSnapshotPut)  # expires_at is checked as it is decoded
    put = {} if req.expires_at is None else {"expires_at": str(req.expires_at)}

    async def body(op: Operation) -> None:
        await s.snapshots.update(inst, name, put)

    return async_op(s.st.ops.create(TASK, "Updating snapshot", _resources(inst, name), body))


@routes.put("/1.0/instances/{name}/snapshots/{snapshot}")
async def instance_snapshot_put(request: web.Request) -> web.Response:
    """Change a snapshot's expiry."""
    return await _put(request)


@routes.patch("/1.0/instances/{name}/snapshots/{snapshot}")
async def instance_snapshot_patch(request: web.Request) -> web.Response:
    """Change a snapshot's expiry (same as PUT, as Incus)."""
    return await _put(request)


@routes.post("/1.0/instances/{name}/snapshots/{snapshot}")
async def instance_snapshot_post(request: web.Request) -> web.Response:
    """Rename a snapshot, or send it to another server (``migration``: a new instance there)."""
    s = svc(request)
    inst, name = request.match_info["name"], request.match_info["snapshot"]
    rec = _instance(s, inst, name)
    s.snapshots.get(rec, name)
    req = await read_body(request, InstanceSnapshotPost)
    if req.migration:
        return migration.source_response(s, inst, name, req.instance_only, req.target)
    new_name = req.name or ""
    if not new_name:
        raise InvalidArgument("A new name for the snapshot must be provided")
    names.validate_snapshot_name(new_name)
    if s.st.store.snapshot_exists(rec.id, new_name):
        raise Conflict(f"Name '{inst}/{new_name}' already in use")

    async def body(op: Operation) -> None:
        await s.snapshots.rename(inst, name, new_name)

    return async_op(s.st.ops.create(TASK, "Renaming snapshot", _resources(inst, name), body))


@routes.delete("/1.0/instances/{name}/snapshots/{snapshot}")
async def instance_snapshot_delete(request: web.Request) -> web.Response:
    """Delete one snapshot."""
    s = svc(request)
    inst, name = request.match_info["name"], request.match_info["snapshot"]
    rec = _instance(s, inst, name)
    s.snapshots.get(rec, name)

    async def body(op: Operation) -> None:
        await s.snapshots.delete(inst, name)

    return async_op(s.st.ops.create(TASK, "Deleting snapshot", _resources(inst, name), body))
