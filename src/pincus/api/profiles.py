"""/1.0/profiles."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pincus.api.body import read_body
from pincus.api.context import svc
from pincus.api.response import check_etag, recursion, sync
from pincus.api.schema import ProfilePut, ProfilesPost
from pincus.base.errors import InvalidArgument
from pincus.core import names
from pincus.core.config_keys import validate_config
from pincus.core.services import Services
from pincus.db.records import ProfileRecord

routes = web.RouteTableDef()


def profile_api(s: Services, rec: ProfileRecord) -> dict[str, Any]:
    """The Profile object."""
    used = [f"/1.0/instances/{i.name}" for i in s.st.store.instances() if rec.name in i.profiles]
    return {"name": rec.name, "description": rec.description, "config": rec.config, "devices": rec.devices,
            "used_by": used, "project": "default"}


def _etag(rec: ProfileRecord) -> list[Any]:
    return [rec.config, rec.description, rec.devices]


@routes.get("/1.0/profiles")
async def profiles_get(request: web.Request) -> web.Response:
    """List profiles."""
    s = svc(request)
    recs = s.st.store.profiles()
    if recursion(request) >= 1:
        return sync([profile_api(s, r) for r in recs])
    return sync([f"/1.0/profiles/{r.name}" for r in recs])


def _parse(req: ProfilePut) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    config = dict(req.config or {})
    validate_config(config)
    return config, dict(req.devices or {})


@routes.post("/1.0/profiles")
async def profiles_post(request: web.Request) -> web.Response:
    """Create a profile."""
    s = svc(request)
    req = await read_body(request, ProfilesPost)
    name = req.name or ""
    if not name:
        raise InvalidArgument("No name provided")
    names.validate_profile_name(name)
    config, devices = _parse(req)
    s.st.store.create_profile(ProfileRecord(name=name, description=req.description or "",
                                            config=config, devices=devices))
    return sync(None)


@routes.get("/1.0/profiles/{name}")
async def profile_get(request: web.Request) -> web.Response:
    """One profile."""
    s = svc(request)
    rec = s.st.store.get_profile(request.match_info["name"])
    return sync(profile_api(s, rec), etag=_etag(rec))


@routes.put("/1.0/profiles/{name}")
@routes.patch("/1.0/profiles/{name}")
async def profile_put(request: web.Request) -> web.Response:
    """Replace (PUT) or merge (PATCH) a profile's config and devices."""
    s = svc(request)
    rec = s.st.store.get_profile(request.match_info["name"])
    check_etag(request, _etag(rec))
    req = await read_body(request, ProfilePut)
    config, devices = _parse(req)
    if request.method == "PATCH":
        rec.config.update(config)
        rec.devices.update(devices)
    else:
        rec.config, rec.devices = config, devices
    if req.description is not None:
        rec.description = req.description
    s.st.store.update_profile(rec)
    return sync(None)


@routes.delete("/1.0/profiles/{name}")
async def profile_delete(request: web.Request) -> web.Response:
    """Delete an unused profile (never the default one)."""
    s = svc(request)
    rec = s.st.store.get_profile(request.match_info["name"])
    if rec.name == "default":
        raise InvalidArgument("The 'default' profile cannot be deleted")
    if profile_api(s, rec)["used_by"]:
        raise InvalidArgument("Profile is currently in use")
    s.st.store.delete_profile(rec.name)
    return sync(None)
