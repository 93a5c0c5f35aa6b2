"""How handlers reach the daemon's services (and replication, which sits beside them)."""

from __future__ import annotations

from aiohttp import web

from pincus.core.services import Services
from pincus.replication import Replication

SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
REPLICATION: web.AppKey[Replication] = web.AppKey("replication", Replication)


def svc(request: web.Request) -> Services:
    """The services of the daemon serving this request."""
    return request.app[SERVICES]


def replication_of(request: web.Request) -> Replication:
    """The replication service of the daemon serving this request."""
    return request.app[REPLICATION]
