"""Replication targets and on-demand replication (API extension ``pincus_replication``; Incus has none).

* ``GET /1.0/replication-targets``: names (recursion=1: objects with address and fingerprint).
* ``POST /1.0/replication-targets`` ``{"name", "token"}``: join a server with its trust token.
* ``DELETE /1.0/replication-targets/{name}``: forget one (the other server still trusts us).
* ``POST /1.0/instances/{name}/replicate``: refresh the instance onto its target now (async).
"""

from __future__ import annotations

from aiohttp import web

from pincus.api.body import read_body
from pincus.api.context import replication_of, svc
from pincus.api.response import async_op, recursion, sync
from pincus.api.schema import ReplicationTargetsPost
from pincus.base.errors import InvalidArgument
from pincus.core.instances import instance_url
from pincus.core.operations import TASK, Operation

routes = web.RouteTableDef()
BASE = "/1.0/replication-targets"


@routes.get(BASE)
async def targets_get(request: web.Request) -> web.Response:
    """Every replication target."""
    targets = replication_of(request).targets.all()
    if recursion(request) >= 1:
        return sync([t.to_api() for t in targets])
    return sync([f"{BASE}/{t.name}" for t in targets])


@routes.post(BASE)
async def targets_post(request: web.Request) -> web.Response:
    """Add a target from a trust token made on it (``config trust add``)."""
    req = await read_body(request, ReplicationTargetsPost)
    name, token = req.name or "", req.token or ""
    if not name or not token:
        raise InvalidArgument("A name and a trust token are required")
    target = await replication_of(request).add_target(name, token)
    return sync(target.to_api())


@routes.delete(BASE + "/{name}")
async def target_delete(request: web.Request) -> web.Response:
    """Forget a target."""
    replication_of(request).targets.delete(request.match_info["name"])
    return sync({})


@routes.post("/1.0/instances/{name}/replicate")
async def instance_replicate(request: web.Request) -> web.Response:
    """Refresh an instance onto its snapshots.replicate.target now."""
    s, replication = svc(request), replication_of(request)
    name = request.match_info["name"]
    s.instances.get(name)

    async def body(op: Operation) -> None:
        await replication.replicate(name)

    return async_op(s.st.ops.create(TASK, "Replicating instance", {"instances": [instance_url(name)]}, body))
