"""/1.0/storage-pools (like cmd/incusd/storage_pools.go), and the volume listing of a pool."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pincus.api.body import read_body
from pincus.api.context import svc
from pincus.api.response import recursion, sync
from pincus.api.schema import StoragePoolPut, StoragePoolsPost
from pincus.base.errors import InvalidArgument
from pincus.core.services import Services
from pincus.db.records import PoolRecord

routes = web.RouteTableDef()


def pool_api(s: Services, rec: PoolRecord) -> dict[str, Any]:
    """The StoragePool object."""
    return {"name": rec.name, "driver": rec.driver, "description": rec.description, "config": rec.config,
            "status": "Created", "locations": ["none"], "used_by": s.pools.used_by(rec.name)}


@routes.get("/1.0/storage-pools")
async def pools_get(request: web.Request) -> web.Response:
    """List pools."""
    s = svc(request)
    recs = s.st.store.pools()
    if recursion(request) >= 1:
        return sync([pool_api(s, r) for r in recs])
    return sync([f"/1.0/storage-pools/{r.name}" for r in recs])


@routes.post("/1.0/storage-pools")
async def pools_post(request: web.Request) -> web.Response:
    """Create a pool (sync, as Incus)."""
    s = svc(request)
    req = await read_body(request, StoragePoolsPost)
    name, driver = req.name or "", req.driver or ""
    if not name:
        raise InvalidArgument("No name provided")
    if not driver:
        raise InvalidArgument("No driver provided")
    await s.pools.create(name, driver, dict(req.config or {}), req.description or "")
    return sync(None)


@routes.get("/1.0/storage-pools/{name}")
async def pool_get(request: web.Request) -> web.Response:
    """One pool."""
    s = svc(request)
    rec = s.st.store.get_pool(request.match_info["name"])
    return sync(pool_api(s, rec), etag=[rec.name, rec.driver, rec.config])


@routes.put("/1.0/storage-pools/{name}")
@routes.patch("/1.0/storage-pools/{name}")
async def pool_put(request: web.Request) -> web.Response:
    """Update a pool's description (config changes are not supported)."""
    s = svc(request)
    rec = s.st.store.get_pool(request.match_info["name"])
    req = await read_body(request, StoragePoolPut)
    if req.description is not None:
        rec.description = req.description
    s.st.store.update_pool(rec)
    return sync(None)


@routes.delete("/1.0/storage-pools/{name}")
async def pool_delete(request: web.Request) -> web.Response:
    """Delete an unused pool."""
    await svc(request).pools.delete(request.match_info["name"])
    return sync(None)


@routes.get("/1.0/storage-pools/{name}/resources")
async def pool_resources(request: web.Request) -> web.Response:
    """Space used and total."""
    s = svc(request)
    s.st.store.get_pool(request.match_info["name"])
    used, total = await s.st.blocking(s.st.driver(request.match_info["name"]).usage)
    return sync({"space": {"used": used, "total": total}, "inodes": {"used": 0, "total": 0}})


@routes.get("/1.0/storage-pools/{name}/volumes")
async def pool_volumes(request: web.Request) -> web.Response:
    """Instance, snapshot and image volumes of a pool."""
    s = svc(request)
    pool = s.st.store.get_pool(request.match_info["name"]).name
    vols: list[dict[str, Any]] = []
    snaps = s.st.store.all_snapshots()
    for inst in s.st.store.instances():
        if inst.pool != pool:
            continue
        vols.append({"name": inst.name, "type": "container", "content_type": "filesystem", "config": {},
                     "description": "", "location": "none", "project": "default",
                     "used_by": [f"/1.0/instances/{inst.name}"]})
        for snap in snaps.get(inst.id, []):
            vols.append({"name": f"{inst.name}/{snap.name}", "type": "container", "content_type": "filesystem",
                         "config": {}, "description": "", "location": "none", "project": "default",
                         "used_by": []})
    if recursion(request) >= 1:
        return sync(vols)
    return sync([f"/1.0/storage-pools/{pool}/volumes/{v['type']}/{v['name']}" for v in vols])
