"""/1.0/images and /1.0/images/aliases (uploads: raw unified tarball or multipart split image)."""

from __future__ import annotations

import secrets
import urllib.parse
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from pincus.api.body import present, read_body
from pincus.api.context import svc
from pincus.api.render import t
from pincus.api.response import async_op, recursion, sync
from pincus.api.schema import (
    ImageAliasesEntryPost,
    ImageAliasesEntryPut,
    ImageAliasesPost,
    ImagePut,
    ImagesPost,
)
from pincus.base.errors import InvalidArgument, NotSupported
from pincus.base.gotime import parse_optional_time
from pincus.core.operations import TASK, Operation
from pincus.core.publish import publish
from pincus.core.services import Services
from pincus.db.records import ImageRecord
from pincus.db.store import db_time
from pincus.images.unpack import validate_image

routes = web.RouteTableDef()
CHUNK = 1 << 20


def image_api(s: Services, rec: ImageRecord) -> dict[str, Any]:
    """The Image object."""
    aliases = [{"name": n, "description": d} for n, fp, d in s.st.store.aliases() if fp == rec.fingerprint]
    return {
        "aliases": aliases,
        "architecture": rec.architecture,
        "auto_update": rec.auto_update,
        "cached": False,
        "created_at": t(rec.created_at),
        "expires_at": t(rec.expires_at),
        "filename": rec.filename,
        "fingerprint": rec.fingerprint,
        "last_used_at": t(rec.last_used_at),
        "profiles": ["default"],
        "properties": rec.properties,
        "public": rec.public,
        "size": rec.size,
        "type": rec.type,
        "uploaded_at": t(rec.uploaded_at),
        "project": "default",
    }


@routes.get("/1.0/images")
async def images_get(request: web.Request) -> web.Response:
    """List images."""
    s = svc(request)
    recs = s.st.store.images()
    if recursion(request) >= 1:
        return sync([image_api(s, r) for r in recs])
    return sync([f"/1.0/images/{r.fingerprint}" for r in recs])


async def _save(stream: Any, path: Path) -> None:
    with open(path, "wb") as f:
        while True:
            chunk = await stream.read_chunk(CHUNK) if hasattr(stream, "read_chunk") else await stream.read(CHUNK)
            if isinstance(chunk, tuple):
                chunk = chunk[0]
            if not chunk:
                break
            f.write(chunk)


async def _receive(request: web.Request, tmp: Path) -> tuple[Path, Path | None, str]:
    """Store the upload in tmp files: (metadata-or-unified, rootfs or None, filename)."""
    ctype = request.headers.get("Content-Type", "")
    meta = tmp / "meta"
    if ctype.startswith("multipart/form-data"):
        reader = await request.multipart()
        rootfs: Path | None = None
        filename = ""
        async for part in reader:
            if not isinstance(part, aiohttp.BodyPartReader):  # a nested multipart has no name or file
                raise InvalidArgument("Invalid multipart image: nested multipart parts are not supported")
            if part.name == "metadata":
                filename = part.filename or ""
                await _save(part, meta)
            elif part.name == "rootfs":
                rootfs = tmp / "rootfs"
                await _save(part, rootfs)
        if not meta.exists() or rootfs is None:
            raise InvalidArgument("Invalid multipart image: the metadata and rootfs parts are both required")
        return meta, rootfs, filename
    await _save(request.content, meta)
    if meta.stat().st_size == 0:
        raise InvalidArgument("Empty image upload")
    return meta, None, request.headers.get("X-Incus-filename", "")


@routes.post("/1.0/images")
async def images_post(request: web.Request) -> web.Response:
    """Import an uploaded image; JSON bodies (remote sources, publish) are not supported here."""
    s = svc(request)
    ctype = request.headers.get("Content-Type", "")
    if ctype.startswith("application/json"):
        req = await read_body(request, ImagesPost)
        if req.source is not None and req.source.type in ("instance", "snapshot", "container"):
            return _publish(s, req)
        raise NotSupported("Importing images from remote servers is not supported")
    tmp = s.st.paths.images / f".upload-{secrets.token_hex(8)}"
    tmp.mkdir(parents=True)
    try:
        meta, rootfs, filename = await _receive(request, tmp)
        # The members are checked now, as at unpack time: a hostile or broken image is a 400
        # here, not an image that fails at its first use.
        await s.st.blocking(validate_image, meta, rootfs)
    except BaseException:
        _cleanup(tmp)
        raise
    public = request.headers.get("X-Incus-public", "") in ("1", "true")
    aliases = _header_aliases(request)
    props = request.headers.get("X-Incus-properties", "")

    async def body(op: Operation) -> dict[str, Any]:
        try:
            rec = await s.st.blocking(s.images.import_files, meta, rootfs, filename, public, aliases)
        finally:
            _cleanup(tmp)
        if props:
            extra = dict(urllib.parse.parse_qsl(props))
            rec.properties.update(extra)
            s.st.store.update_image(rec)
        return {"fingerprint": rec.fingerprint, "size": rec.size}

    return async_op(s.st.ops.create(TASK, "Downloading image", {}, body))


def _publish(s: Services, req: ImagesPost) -> web.Response:
    name = (req.source.name or "") if req.source is not None else ""
    post = present(req)

    async def body(op: Operation) -> dict[str, Any]:
        rec = await publish(s.st, s.instances, s.images, post)
        return {"fingerprint": rec.fingerprint, "size": rec.size}

    return async_op(s.st.ops.create(TASK, "Publishing image", {"instances": [f"/1.0/instances/{name}"]}, body))


def _header_aliases(request: web.Request) -> list[dict[str, str]]:
    raw = request.headers.get("X-Incus-aliases", "")
    return [{"name": a} for a in (urllib.parse.unquote(x) for x in raw.split(",")) if a]


def _cleanup(tmp: Path) -> None:
    for child in tmp.iterdir() if tmp.exists() else []:
        child.unlink(missing_ok=True)
    if tmp.exists():
        tmp.rmdir()


@routes.get("/1.0/images/aliases")
async def aliases_get(request: web.Request) -> web.Response:
    """List aliases."""
    s = svc(request)
    rows = s.st.store.aliases()
    if recursion(request) >= 1:
        return sync([{"name": n, "target": fp, "description": d, "type": "container"} for n, fp, d in rows])
    return sync([f"/1.0/images/aliases/{n}" for n, _, _ in rows])


@routes.post("/1.0/images/aliases")
async def aliases_post(request: web.Request) -> web.Response:
    """Create an alias."""
    s = svc(request)
    req = await read_body(request, ImageAliasesPost)
    name, target = req.name or "", req.target or ""
    if not name:
        raise InvalidArgument("Alias name missing")
    image = s.st.store.get_image(target)
    s.st.store.create_alias(name, image.fingerprint, req.description or "")
    return sync({})


@routes.get("/1.0/images/aliases/{name}")
async def alias_get(request: web.Request) -> web.Response:
    """One alias."""
    n, fp, d = svc(request).st.store.get_alias(request.match_info["name"])
    return sync({"name": n, "target": fp, "description": d, "type": "container"}, etag=[n, fp, d])


@routes.put("/1.0/images/aliases/{name}")
@routes.patch("/1.0/images/aliases/{name}")
async def alias_put(request: web.Request) -> web.Response:
    """Repoint or redescribe an alias."""
    s = svc(request)
    n, fp, d = s.st.store.get_alias(request.match_info["name"])
    req = await read_body(request, ImageAliasesEntryPut)
    target = s.st.store.get_image(req.target or fp).fingerprint
    s.st.store.update_alias(n, target, d if req.description is None else req.description)
    return sync({})


@routes.post("/1.0/images/aliases/{name}")
async def alias_post(request: web.Request) -> web.Response:
    """Rename an alias."""
    s = svc(request)
    n, _, _ = s.st.store.get_alias(request.match_info["name"])
    req = await read_body(request, ImageAliasesEntryPost)
    s.st.store.rename_alias(n, req.name or "")
    return sync({})


@routes.delete("/1.0/images/aliases/{name}")
async def alias_delete(request: web.Request) -> web.Response:
    """Delete an alias."""
    s = svc(request)
    s.st.store.get_alias(request.match_info["name"])
    s.st.store.delete_alias(request.match_info["name"])
    return sync({})


@routes.get("/1.0/images/{fingerprint}")
async def image_get(request: web.Request) -> web.Response:
    """One image (by fingerprint or unique prefix)."""
    s = svc(request)
    rec = s.st.store.get_image(request.match_info["fingerprint"])
    out = image_api(s, rec)
    return sync(out, etag=[rec.auto_update, rec.properties, rec.public])


@routes.put("/1.0/images/{fingerprint}")
@routes.patch("/1.0/images/{fingerprint}")
async def image_put(request: web.Request) -> web.Response:
    """Change an image's properties, public flag, auto_update or expiry."""
    s = svc(request)
    rec = s.st.store.get_image(request.match_info["fingerprint"])
    req = await read_body(request, ImagePut)
    if req.properties is not None:
        rec.properties = {**rec.properties, **req.properties} if request.method == "PATCH" else dict(req.properties)
    if req.public is not None:
        rec.public = req.public
    if req.auto_update is not None:
        rec.auto_update = req.auto_update
    if req.expires_at:
        rec.expires_at = db_time(parse_optional_time(req.expires_at))
    s.st.store.update_image(rec)
    return sync({})


@routes.delete("/1.0/images/{fingerprint}")
async def image_delete(request: web.Request) -> web.Response:
    """Delete an image (instances made from it are independent copies or CoW clones)."""
    s = svc(request)
    rec = s.st.store.get_image(request.match_info["fingerprint"])

    async def body(op: Operation) -> None:
        await s.images.delete(rec.fingerprint)

    return async_op(s.st.ops.create(TASK, "Deleting image", {"images": [f"/1.0/images/{rec.fingerprint}"]}, body))


@routes.get("/1.0/images/{fingerprint}/export")
async def image_export(request: web.Request) -> web.StreamResponse:
    """Download an image's tarball(s): raw for unified, multipart for split."""
    s = svc(request)
    rec = s.st.store.get_image(request.match_info["fingerprint"])
    meta, rootfs = s.images.tarballs(rec.fingerprint)
    if rootfs is None:
        return web.FileResponse(meta, headers={"Content-Disposition": f"attachment; filename={rec.filename}"})
    with aiohttp.MultipartWriter("form-data") as mp:
        for name, path in (("metadata", meta), ("rootfs", rootfs)):
            part = mp.append(open(path, "rb"))  # noqa: SIM115 - closed by the writer
            part.set_content_disposition("form-data", name=name, filename=f"{name}.tar.xz")
    resp = web.StreamResponse(headers={"Content-Type": f"multipart/form-data; boundary={mp.boundary}"})
    writer = await resp.prepare(request)
    assert writer is not None  # None only for a response already finished, and this one is fresh
    await mp.write(writer)
    await resp.write_eof()
    return resp
