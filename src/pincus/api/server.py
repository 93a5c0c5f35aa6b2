"""/, /1.0, /1.0/projects, /1.0/networks (the read-only bits the stock client asks for)."""

from __future__ import annotations

import os
import platform
from typing import Any

from aiohttp import web

from pincus import __version__
from pincus.api.auth import identity
from pincus.api.body import read_body
from pincus.api.context import svc
from pincus.api.extensions import API_EXTENSIONS
from pincus.api.https import HTTPS
from pincus.api.response import check_etag, recursion, sync
from pincus.api.schema import ServerPut
from pincus.base.errors import InvalidArgument, NotFound
from pincus.core.expiry import validate_expiry
from pincus.storage.availability import available_drivers, driver_version

routes = web.RouteTableDef()

SERVER_KEYS = {"core.https_address", "images.auto_update_interval", "core.proxy_http", "core.proxy_https",
               "core.remote_token_expiry"}


def _os_release() -> tuple[str, str]:
    name, version = "Linux", ""
    try:
        for line in open("/etc/os-release", encoding="utf-8"):
            key, _, value = line.strip().partition("=")
            if key == "NAME":
                name = value.strip('"')
            elif key == "VERSION_ID":
                version = value.strip('"')
    except OSError:
        pass
    return name, version


def untrusted_info(request: web.Request) -> dict[str, Any]:
    """The ServerUntrusted object an unauthenticated HTTPS client gets."""
    config = svc(request).st.store.get_config()
    return {"config": {k: v for k, v in config.items() if k.startswith("user.ui.")},
            "api_extensions": API_EXTENSIONS, "api_status": "stable", "api_version": "1.0",
            "auth": "untrusted", "public": False, "auth_methods": ["tls"]}


def server_info(request: web.Request) -> dict[str, Any]:
    """The Server object."""
    s = svc(request)
    ident, https = identity(request), request.app[HTTPS]
    os_name, os_version = _os_release()
    drivers = sorted({d.info.name for d in s.st.drivers.values()}) or ["dir"]
    return {
        "config": s.st.store.get_config(),
        "api_extensions": API_EXTENSIONS,
        "api_status": "stable",
        "api_version": "1.0",
        "auth": "trusted",
        "public": False,
        "auth_methods": ["tls"],
        "auth_user_name": ident.name,
        "auth_user_method": ident.method,
        "environment": {
            "addresses": https.addresses(),
            "architectures": ["x86_64", "i686"],
            "certificate": https.certificate,
            "certificate_fingerprint": https.fingerprint,
            "driver": "lxc",
            "driver_version": "5.0.2",
            "firewall": "none",
            "kernel": platform.system(),
            "kernel_architecture": platform.machine(),
            "kernel_features": {},
            "kernel_version": platform.release(),
            "lxc_features": {},
            "os_name": os_name,
            "os_version": os_version,
            "project": "default",
            "server": "pincus",
            "server_clustered": False,
            "server_event_mode": "full-mesh",
            "server_name": platform.node() or "pincus",
            "server_pid": os.getpid(),
            "server_version": __version__,
            "storage": " | ".join(drivers),
            "storage_version": " | ".join(driver_version(d) for d in drivers),
            "storage_supported_drivers": [
                {"Name": name, "Version": driver_version(name), "Remote": False} for name in available_drivers()
            ],
        },
    }


@routes.get("/")
async def root_get(request: web.Request) -> web.Response:
    """The supported API versions."""
    return sync(["/1.0"])


@routes.get("/1.0")
async def server_get(request: web.Request) -> web.Response:
    """Server information and configuration (limited for untrusted clients, without an ETag)."""
    if not identity(request).trusted:
        return sync(untrusted_info(request))
    info = server_info(request)
    return sync(info, etag=info["config"])


async def _server_put(request: web.Request, patch: bool) -> web.Response:
    s = svc(request)
    current = s.st.store.get_config()
    check_etag(request, current)
    req = await read_body(request, ServerPut)
    config = dict(req.config or {})
    for key in config:
        if key not in SERVER_KEYS:
            raise InvalidArgument(f'Invalid server config key "{key}"')
    new = {k: v for k, v in ({**current, **config} if patch else config).items() if v != ""}
    validate_expiry(new.get("core.remote_token_expiry", ""))
    address = new.get("core.https_address", "")
    if address != current.get("core.https_address", ""):
        await request.app[HTTPS].apply(address)  # raises, keeping the old listener, if it can't bind
    s.st.store.set_config(new)
    return sync({})


@routes.put("/1.0")
async def server_put(request: web.Request) -> web.Response:
    """Replace the server configuration."""
    return await _server_put(request, patch=False)


@routes.patch("/1.0")
async def server_patch(request: web.Request) -> web.Response:
    """Merge into the server configuration."""
    return await _server_put(request, patch=True)


def _project(request: web.Request) -> dict[str, Any]:
    s = svc(request)
    used = [f"/1.0/instances/{n}" for n in s.st.store.instance_names()]
    used += [f"/1.0/profiles/{p.name}" for p in s.st.store.profiles()]
    return {"name": "default", "description": "Default Incus project", "used_by": used,
            "config": {"features.images": "true", "features.networks": "true",
                       "features.profiles": "true", "features.storage.volumes": "true",
                       "features.storage.buckets": "true", "features.networks.zones": "true"}}


@routes.get("/1.0/projects")
async def projects_get(request: web.Request) -> web.Response:
    """Only the default project exists."""
    if recursion(request) >= 1:
        return sync([_project(request)])
    return sync(["/1.0/projects/default"])


@routes.get("/1.0/projects/{name}")
async def project_get(request: web.Request) -> web.Response:
    """The default project."""
    if request.match_info["name"] != "default":
        raise NotFound("Project not found")
    return sync(_project(request), etag=[])


@routes.get("/1.0/networks")
async def networks_get(request: web.Request) -> web.Response:
    """No managed networks: containers have loopback only."""
    return sync([])
