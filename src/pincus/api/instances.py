"""/1.0/instances and /1.0/instances/{name} (like cmd/incusd/instances*.go, instance_*.go)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pincus.api import filtering, migration, render
from pincus.api.body import present, read_body
from pincus.api.context import svc
from pincus.api.response import async_op, check_etag, recursion, sync
from pincus.api.schema import InstancePost, InstancePut, InstancesPost, InstanceStatePut
from pincus.base.errors import InvalidArgument, NotSupported
from pincus.core.config_keys import validate_config
from pincus.core.instances import instance_url
from pincus.core.operations import TASK, Operation
from pincus.core.services import Services
from pincus.core.snapshots import STATEFUL_REFUSED
from pincus.db.records import InstanceRecord

routes = web.RouteTableDef()


def full(s: Services, rec: InstanceRecord, snaps: list[Any] | None = None) -> dict[str, Any]:
    """The InstanceFull object: instance + state + snapshots + backups."""
    state = s.st.runtime.state(s.st.runtime_name(rec.name))
    out = render.instance(s.st, rec, state)
    out["state"] = render.instance_state(rec, state)
    snap_recs = s.st.store.snapshots(rec.id) if snaps is None else snaps
    out["snapshots"] = [render.snapshot(s.st, rec, snap) for snap in snap_recs] or None
    out["backups"] = None
    return out


@routes.get("/1.0/instances")
async def instances_get(request: web.Request) -> web.Response:
    """List instances: URLs, objects (recursion=1) or full objects (recursion=2)."""
    s = svc(request)
    level = recursion(request)
    expr = request.query.get("filter", "")
    recs = s.st.store.instances()
    if level == 0 and not expr:
        return sync([instance_url(r.name) for r in recs])
    if level <= 1:
        objs = [render.instance(s.st, r, s.st.runtime.state(s.st.runtime_name(r.name))) for r in recs]
    else:
        snaps = s.st.store.all_snapshots()
        objs = [full(s, r, snaps.get(r.id, [])) for r in recs]
    objs = filtering.apply(expr, objs)
    return sync([instance_url(o["name"]) for o in objs] if level == 0 else objs)


@routes.post("/1.0/instances")
async def instances_post(request: web.Request) -> web.Response:
    """Create an instance (from an image, a copy, or empty); optionally start it."""
    s = svc(request)
    req = await read_body(request, InstancesPost)
    if req.source is not None and req.source.type == "migration":
        return migration.target_response(s, req)
    rec, source = s.instances.prepare(present(req))
    start = bool(req.start)

    async def body(op: Operation) -> None:
        await s.instances.create(rec, source)
        if start:
            await s.lifecycle.start(rec.name)

    op = s.st.ops.create(TASK, "Creating instance", {"instances": [instance_url(rec.name)]}, body)
    return async_op(op)


@routes.get("/1.0/instances/{name}")
async def instance_get(request: web.Request) -> web.Response:
    """One instance; recursion=1 gives InstanceFull."""
    s = svc(request)
    rec = s.instances.get(request.match_info["name"])
    if recursion(request) >= 1:
        return sync(full(s, rec), etag=render.instance_etag(rec))
    state = s.st.runtime.state(s.st.runtime_name(rec.name))
    return sync(render.instance(s.st, rec, state), etag=render.instance_etag(rec))


async def _put(request: web.Request, patch: bool) -> web.Response:
    s = svc(request)
    name = request.match_info["name"]
    rec = s.instances.get(name)
    check_etag(request, render.instance_etag(rec))
    req = await read_body(request, InstancePut)
    restore = req.restore or ""
    if restore:
        snap = s.snapshots.resolve_restore(rec, restore)
        stateful, disk_only = bool(req.stateful), bool(req.disk_only)

        async def restore_body(op: Operation) -> None:
            await s.snapshots.restore(name, restore, stateful, disk_only)

        resources = {"instances": [instance_url(name)], "instances_snapshots": [f"{instance_url(name)}/snapshots/{snap.name}"]}
        return async_op(s.st.ops.create(TASK, "Restoring snapshot", resources, restore_body))

    put = present(req)

    async def update_body(op: Operation) -> None:
        await s.instances.update(name, put, patch)

    # Validate synchronously so a bad key is a 400, not a failed operation.
    if req.config is not None:
        validate_config({k: v for k, v in req.config.items() if not k.startswith("volatile.")})
    return async_op(s.st.ops.create(TASK, "Updating instance", {"instances": [instance_url(name)]}, update_body))


@routes.put("/1.0/instances/{name}")
async def instance_put(request: web.Request) -> web.Response:
    """Replace an instance's config, or restore a snapshot (``restore``)."""
    return await _put(request, patch=False)


@routes.patch("/1.0/instances/{name}")
async def instance_patch(request: web.Request) -> web.Response:
    """Merge changes into an instance's config."""
    return await _put(request, patch=True)


@routes.post("/1.0/instances/{name}")
async def instance_post(request: web.Request) -> web.Response:
    """Rename an instance, or send it to another server (``migration``)."""
    s = svc(request)
    name = request.match_info["name"]
    s.instances.get(name)
    req = await read_body(request, InstancePost)
    if req.migration:
        return migration.source_response(s, name, "", req.instance_only, req.target)
    new_name = req.name or ""
    if not new_name:
        raise InvalidArgument("A new name must be provided")

    async def body(op: Operation) -> None:
        await s.instances.rename(name, new_name)

    return async_op(s.st.ops.create(TASK, "Renaming instance", {"instances": [instance_url(name)]}, body))


@routes.delete("/1.0/instances/{name}")
async def instance_delete(request: web.Request) -> web.Response:
    """Delete a stopped instance and its snapshots."""
    s = svc(request)
    name = request.match_info["name"]
    rec = s.instances.get(name)
    if s.instances.is_running(rec):
        raise InvalidArgument("Instance is running")

    async def body(op: Operation) -> None:
        await s.instances.delete(name)

    return async_op(s.st.ops.create(TASK, "Deleting instance", {"instances": [instance_url(name)]}, body))


@routes.get("/1.0/instances/{name}/state")
async def instance_state_get(request: web.Request) -> web.Response:
    """The instance's runtime state."""
    s = svc(request)
    rec = s.instances.get(request.match_info["name"])
    return sync(render.instance_state(rec, s.st.runtime.state(s.st.runtime_name(rec.name))))


_ACTIONS = {"start": "Starting instance", "stop": "Stopping instance", "restart": "Restarting instance",
            "freeze": "Freezing instance", "unfreeze": "Unfreezing instance"}


@routes.put("/1.0/instances/{name}/state")
async def instance_state_put(request: web.Request) -> web.Response:
    """Change the power state: start, stop, restart, freeze, unfreeze."""
    s = svc(request)
    name = request.match_info["name"]
    s.instances.get(name)
    req = await read_body(request, InstanceStatePut)
    action = req.action or ""
    if action not in _ACTIONS:
        raise InvalidArgument(f"Unknown action {action}")
    if req.stateful:
        raise NotSupported(STATEFUL_REFUSED)
    timeout = float(req.timeout or -1)
    force = bool(req.force)

    async def body(op: Operation) -> None:
        if action == "start":
            await s.lifecycle.start(name)
        elif action == "stop":
            await s.lifecycle.stop(name, timeout, force)
        elif action == "restart":
            await s.lifecycle.restart(name, timeout, force)
        elif action == "freeze":
            await s.lifecycle.freeze(name)
        else:
            await s.lifecycle.unfreeze(name)

    return async_op(s.st.ops.create(TASK, _ACTIONS[action], {"instances": [instance_url(name)]}, body))


@routes.get("/1.0/instances/{name}/backups")
async def instance_backups_get(request: web.Request) -> web.Response:
    """Backups are not implemented: always an empty list."""
    svc(request).instances.get(request.match_info["name"])
    return sync([])
