"""/1.0/instances/{name}/files?path= (GET pull, POST push, DELETE), with Incus's X-Incus-* headers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from dataclasses import dataclass

from aiohttp import web

from pincus.api.context import svc
from pincus.api.response import sync
from pincus.base.errors import InvalidArgument
from pincus.core import files
from pincus.core.inroot import check_path

routes = web.RouteTableDef()

MAX_ID = 4294967294  # (uid_t)-1 is "no change" to chown(2), so it is no valid owner
_INT = re.compile(r"-?[0-9]{1,10}")
_OCTAL = re.compile(r"[0-7]{1,5}")
PUSH_CHUNK = 1 << 20  # body bytes handed to the executor at a time


@dataclass(frozen=True)
class PushHeaders:
    """The X-Incus-* headers of a push, validated."""

    uid: int
    gid: int
    mode: int
    kind: str
    append: bool


def _header(request: web.Request, key: str) -> str:
    """X-Incus-<key>, or the legacy X-LXD-<key> (as Incus reads them)."""
    return (request.headers.get(f"X-Incus-{key}") or request.headers.get(f"X-LXD-{key}") or "").strip()


def _owner(request: web.Request, key: str) -> int:
    raw = _header(request, key)
    if not raw:
        return files.NOT_GIVEN
    value = int(raw) if _INT.fullmatch(raw) else None
    if value is None or not (value == files.NOT_GIVEN or 0 <= value <= MAX_ID):
        raise InvalidArgument(f'Invalid X-Incus-{key} header "{raw}": must be -1 or an integer from 0 to {MAX_ID}')
    return value


def push_headers(request: web.Request) -> PushHeaders:
    """Validate a push's headers; a 400 names the first bad one."""
    uid, gid = _owner(request, "uid"), _owner(request, "gid")
    raw_mode = _header(request, "mode")
    mode = files.NOT_GIVEN
    if raw_mode and raw_mode != "-1":
        if not _OCTAL.fullmatch(raw_mode) or int(raw_mode, 8) > 0o7777:
            raise InvalidArgument(f'Invalid X-Incus-mode header "{raw_mode}": must be an octal mode from 0 to 7777')
        mode = int(raw_mode, 8)
    kind = _header(request, "type") or "file"
    if kind not in ("file", "directory", "symlink"):
        raise InvalidArgument(f"Bad file type: {kind}")
    write = _header(request, "write") or "overwrite"
    if write not in ("overwrite", "append"):
        raise InvalidArgument(f"Bad file write mode: {write}")
    return PushHeaders(uid, gid, mode, kind, write == "append")


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise InvalidArgument("Missing path argument")
    return check_path(path)


@routes.get("/1.0/instances/{name}/files")
async def instance_file_get(request: web.Request) -> web.StreamResponse:
    """Pull a file (raw body) or list a directory (sync JSON)."""
    path = _path(request)
    s = svc(request)
    rec = s.instances.get(request.match_info["name"])
    rootfs = str(s.instances.rootfs(rec))
    info, reader = await s.st.blocking(files.pull, rootfs, path)
    headers = {"X-Incus-uid": str(info.uid), "X-Incus-gid": str(info.gid),
               "X-Incus-mode": f"{info.mode:04o}", "X-Incus-type": info.kind}
    if info.kind == "directory":
        resp = sync(info.entries or [])
        resp.headers.update(headers)
        return resp
    if info.kind == "symlink":
        return web.Response(body=info.target.encode(), headers=headers, content_type="application/octet-stream")
    assert reader is not None
    if request.method == "HEAD":  # headers only, as Incus answers; the content is not read
        reader.close()
        headers["Content-Length"] = str(reader.size)
        return web.Response(headers=headers, content_type="application/octet-stream")
    return await _stream(request, s.st.executor, reader, headers)


async def _stream(request: web.Request, executor: concurrent.futures.Executor, reader: files.FileReader,
                  headers: dict[str, str]) -> web.StreamResponse:
    """Send the file a chunk at a time; the fd is closed however the client leaves."""
    pending: concurrent.futures.Future[bytes] | None = None
    try:
        resp = web.StreamResponse(headers=headers)
        resp.content_type = "application/octet-stream"
        await resp.prepare(request)
        while True:
            pending = executor.submit(reader.read)
            chunk = await asyncio.wrap_future(pending)
            pending = None
            if not chunk:
                break
            await resp.write(chunk)
        await resp.write_eof()
        return resp
    finally:
        if pending is not None:  # cancelled while a read runs: close once it is over, never under it
            pending.add_done_callback(lambda _f: reader.close())
        else:
            reader.close()


@routes.post("/1.0/instances/{name}/files")
async def instance_file_post(request: web.Request) -> web.Response:
    """Push a file, directory or symlink."""
    path = _path(request)
    want = push_headers(request)
    s = svc(request)
    rec = s.instances.get(request.match_info["name"])
    rootfs = str(s.instances.rootfs(rec))
    if want.kind == "directory":
        await s.st.blocking(files.make_directory, rootfs, path, want.uid, want.gid, want.mode)
    elif want.kind == "symlink":
        target = await _read_small(request, files.MAX_LINK_TARGET)
        await s.st.blocking(files.make_symlink, rootfs, path, target, want.uid, want.gid)
    else:
        await _receive(request, s.st.executor, rootfs, path, want)
    return sync({})


async def _receive(request: web.Request, executor: concurrent.futures.Executor, rootfs: str, path: str,
                   want: PushHeaders) -> None:
    """Stream the body into a temporary file beside the target, then rename it over the target."""
    begun = executor.submit(files.Upload.begin, rootfs, path, want.uid, want.gid, want.mode, want.append)
    try:
        upload = await asyncio.wrap_future(begun)
    except asyncio.CancelledError:  # the client left while the temporary file was being made
        begun.add_done_callback(_abort_begun)
        raise
    try:
        buf = bytearray()
        async for data in request.content.iter_any():
            buf += data
            if len(buf) >= PUSH_CHUNK:
                await asyncio.wrap_future(executor.submit(upload.write, bytes(buf)))
                buf.clear()
        await asyncio.wrap_future(executor.submit(upload.write, bytes(buf)))
        await asyncio.wrap_future(executor.submit(upload.commit))
    finally:
        try:
            executor.submit(upload.abort)  # nothing once committed; else waits for a write still running
        except RuntimeError:  # the executor is shut down: the daemon is stopping
            upload.abort()


def _abort_begun(begun: concurrent.futures.Future[files.Upload]) -> None:
    if not begun.cancelled() and begun.exception() is None:
        begun.result().abort()


async def _read_small(request: web.Request, limit: int) -> bytes:
    """The whole body, refused when longer than limit."""
    data = bytearray()
    async for chunk in request.content.iter_any():
        data += chunk
        if len(data) > limit:
            raise InvalidArgument(f"The request body is longer than {limit} bytes")
    return bytes(data)


@routes.delete("/1.0/instances/{name}/files")
async def instance_file_delete(request: web.Request) -> web.Response:
    """Delete a path."""
    path = _path(request)
    s = svc(request)
    rec = s.instances.get(request.match_info["name"])
    await s.st.blocking(files.delete, str(s.instances.rootfs(rec)), path)
    return sync({})
