"""/1.0/operations (like cmd/incusd/operations.go)."""

from __future__ import annotations

from aiohttp import web

from pincus.api.body import query_seconds
from pincus.api.context import svc
from pincus.api.response import recursion, sync
from pincus.base.errors import InvalidArgument

routes = web.RouteTableDef()


@routes.get("/1.0/operations")
async def operations_get(request: web.Request) -> web.Response:
    """Operations grouped by lowercased status."""
    out: dict[str, list[object]] = {}
    full = recursion(request) >= 1
    for op in svc(request).st.ops.all():
        out.setdefault(op.status.lower(), []).append(op.to_api() if full else op.url)
    return sync(out)


@routes.get("/1.0/operations/{id}")
async def operation_get(request: web.Request) -> web.Response:
    """One operation."""
    return sync(svc(request).st.ops.get(request.match_info["id"]).to_api())


@routes.delete("/1.0/operations/{id}")
async def operation_delete(request: web.Request) -> web.Response:
    """Cancel an operation that allows it."""
    op = svc(request).st.ops.get(request.match_info["id"])
    if not op.may_cancel:
        raise InvalidArgument("This operation can't be cancelled")
    op.cancel()
    return sync({})


@routes.get("/1.0/operations/{id}/wait")
async def operation_wait(request: web.Request) -> web.Response:
    """Wait until the operation is final (timeout seconds; -1 forever), then return it."""
    op = svc(request).st.ops.get(request.match_info["id"])
    timeout = query_seconds(request, "timeout", -1)
    await op.wait(None if timeout < 0 else timeout)
    return sync(op.to_api())
