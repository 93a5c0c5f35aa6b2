"""/1.0/instances/{name}/files?path= (GET pull, POST push, DELETE), with Incus's X-Incus-* headers."""

from __future__ import annotations

import asyncio

from aiohttp import web

from pincus.api.context import svc
from pincus.api.response import sync
from pincus.core import files
from pincus.core.errors import InvalidArgument

routes = web.RouteTableDef()


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise InvalidArgument("Missing path argument")
    return path


@routes.get("/1.0/instances/{name}/files")
async def instance_file_get(request: web.Request) -> web.StreamResponse:
    """Pull a file (raw body) or list a directory (sync JSON)."""
    s = svc(request)
    rec = s.instances.get(request.match_info["name"])
    rootfs = str(s.instances.rootfs(rec))
    info, stream = await s.st.blocking(files.pull, rootfs, _path(request))
    headers = {"X-Incus-uid": str(info.uid), "X-Incus-gid": str(info.gid),
               "X-Incus-mode": f"{info.mode:04o}", "X-Incus-type": info.kind}
    if info.kind == "directory":
        resp = sync(info.entries or [])
        resp.headers.update(headers)
        return resp
    if info.kind == "symlink":
        return web.Response(body=info.target.encode(), headers=headers, content_type="application/octet-stream")
    resp = web.StreamResponse(headers=headers)
    resp.content_type = "application/octet-stream"
    await resp.prepare(request)
    loop = asyncio.get_running_loop()
    it = iter(stream)
    while chunk := await loop.run_in_executor(s.st.executor, next, it, b""):
        await resp.write(chunk)
    await resp.write_eof()
    return resp


@routes.post("/1.0/instances/{name}/files")
async def instance_file_post(request: web.Request) -> web.Response:
    """Push a file, directory or symlink."""
    s = svc(request)
    rec = s.instances.get(request.match_info["name"])
    path = _path(request)
    kind = request.headers.get("X-Incus-type", "file") or "file"
    try:
        uid = int(request.headers.get("X-Incus-uid", "0") or 0)
        gid = int(request.headers.get("X-Incus-gid", "0") or 0)
        raw_mode = request.headers.get("X-Incus-mode", "")
        mode = int(raw_mode, 8) if raw_mode else (0o755 if kind == "directory" else 0o644)
    except ValueError:
        raise InvalidArgument("Invalid X-Incus-uid, X-Incus-gid or X-Incus-mode header") from None
    if not (-1 <= uid < 2**32 and -1 <= gid < 2**32 and 0 <= mode <= 0o7777):  # -1: unchanged, as chown
        raise InvalidArgument("Invalid X-Incus-uid, X-Incus-gid or X-Incus-mode header: out of range")
    append = request.headers.get("X-Incus-write", "overwrite") == "append"
    body = await request.read()
    rootfs = str(s.instances.rootfs(rec))
    await s.st.blocking(files.push, rootfs, path, kind, uid, gid, mode, append, iter([body]))
    return sync({})


@routes.delete("/1.0/instances/{name}/files")
async def instance_file_delete(request: web.Request) -> web.Response:
    """Delete a path."""
    s = svc(request)
    rec = s.instances.get(request.match_info["name"])
    await s.st.blocking(files.delete, str(s.instances.rootfs(rec)), _path(request))
    return sync({})


