"""The aiohttp application: every route table, the error middleware, the services."""

from __future__ import annotations

from aiohttp import web

from pincus.api import (
    certificates,
    events,
    images,
    instance_exec,
    instance_file,
    instance_snapshot,
    instances,
    operations,
    profiles,
    replication,
    server,
    storage_pools,
)
from pincus.api.auth import auth_middleware
from pincus.api.context import REPLICATION, SERVICES
from pincus.api.response import errors_middleware
from pincus.core.services import Services
from pincus.replication import Replication

MAX_BODY = 64 << 30  # image uploads


def build_app(services: Services, replicator: Replication) -> web.Application:
    """The Incus REST API over the given services and replication."""
    app = web.Application(middlewares=[errors_middleware, auth_middleware], client_max_size=MAX_BODY)
    app[SERVICES] = services
    app[REPLICATION] = replicator
    certificates.install(app, services)
    for module in (server, operations, events, instances, instance_snapshot, instance_exec,
                   instance_file, images, storage_pools, profiles, replication):
        app.add_routes(module.routes)
    return app
