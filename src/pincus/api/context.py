"""How handlers reach the daemon's services."""

from __future__ import annotations

from aiohttp import web

from pincus.core.services import Services

SERVICES: web.AppKey[Services] = web.AppKey("services", Services)


def svc(request: web.Request) -> Services:
    """The services of the daemon serving this request."""
    return request.app[SERVICES]
