"""Instance migration between daemons, in the shapes of Incus's API.

Source: ``POST /1.0/instances/{name}`` (or ``.../snapshots/{snap}``) with ``{"migration": true}``
answers a websocket operation whose metadata holds the secrets; with a ``target`` object the
source connects to the target itself (push). Target: ``POST /1.0/instances`` with
``source.type = "migration"``: ``mode: "pull"`` (default) connects to ``source.operation`` with
``source.secrets``, pinning ``source.certificate``; ``mode: "push"`` answers a websocket operation
the source connects to. The protocol on the websocket is pincus's own (migration/wire.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from pincus.api.body import present
from pincus.api.response import async_op
from pincus.api.schema import InstancePostTarget, InstanceSource, InstancesPost
from pincus.base.errors import InvalidArgument
from pincus.core.instances import instance_url
from pincus.core.operations import TASK, WEBSOCKET, Operation
from pincus.core.services import Services
from pincus.migration.dial import Dialer, pinned_context
from pincus.migration.source import Source
from pincus.migration.target import Options, Target, fit_root_pool
from pincus.migration.wire import TransferError, Wire

CONNECT_TIMEOUT = 120.0
Session = Callable[[Wire], Awaitable[Any]]


def _listen(op: Operation, session: Session) -> None:
    """Make op a websocket operation: metadata = secrets; its body waits for the peer, then runs."""
    op.metadata = {"control": op.new_secret("control")}
    op.may_cancel = True
    connected: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    finished = asyncio.Event()

    async def on_websocket(key: str, ws: Any) -> None:
        connected.set_result(ws)
        await finished.wait()

    op.on_websocket = on_websocket

    async def body(op: Operation) -> None:
        try:
            try:
                ws = await asyncio.wait_for(connected, CONNECT_TIMEOUT)
            except TimeoutError:
                raise TransferError("Timed out waiting for the migration peer to connect") from None
            wire = Wire(ws)
            try:
                await session(wire)
            finally:
                await wire.close()
        finally:
            finished.set()

    op.start(body)


def _dial(s: Services, peer: InstancePostTarget | InstanceSource, session: Session) -> Callable[[Operation], Awaitable[None]]:
    """An operation body that connects to the peer's operation and runs the session."""
    operation, certificate = peer.operation or "", peer.certificate or ""
    secrets = peer.secrets or {}
    if "control" not in secrets:
        raise InvalidArgument("The migration peer's websocket secrets are missing")
    ctx = pinned_context(s.st.paths.root, certificate)

    async def body(op: Operation) -> None:
        dialer = Dialer()
        try:
            wire = Wire(await dialer.connect(ctx, operation, secrets["control"]))
            try:
                await session(wire)
            finally:
                await wire.close()
        finally:
            await dialer.close()

    return body


def source_response(s: Services, name: str, snapshot: str, instance_only: bool | None,
                    target: InstancePostTarget | None) -> web.Response:
    """POST with migration=true on an instance or snapshot: send it (pull: wait; push: connect)."""
    # "live" (the stock client sets it for a running instance) is served statelessly: the volume
    # is sent from a consistent snapshot, without process state (no CRIU on this kernel).
    rec = s.instances.get(name)
    if snapshot:
        s.snapshots.get(rec, snapshot)
    source = Source(s, name, snapshot, instance_only=bool(instance_only))
    resources = {"instances": [instance_url(name)]}
    if target is not None and present(target):  # an empty target object is no target, as before
        body = _dial(s, target, source.run)
        return async_op(s.st.ops.create(TASK, "Migrating instance", resources, body))
    op = s.st.ops.create(WEBSOCKET, "Migrating instance", resources)
    _listen(op, source.run)
    return async_op(op)


def target_response(s: Services, post: InstancesPost) -> web.Response:
    """POST /1.0/instances from a migration source."""
    source = post.source or InstanceSource()
    req = present(post)
    name = post.name or ""
    if not name:
        raise InvalidArgument("An instance name is required to receive a migration")
    opts = Options(refresh=bool(source.refresh), instance_only=bool(source.instance_only),
                   exclude_older=bool(source.refresh_exclude_older),
                   keep_target_snapshots=bool(source.keep_target_snapshots))
    if not opts.refresh:
        s.instances.prepare(fit_root_pool(s, {**req, "source": {"type": "migration"}}))  # refuse bad input now
    mode = source.mode or "pull"
    if mode not in ("pull", "push"):
        raise InvalidArgument(f'Unknown migration mode "{mode}"')
    resources = {"instances": [instance_url(name)]}
    target = Target(s, req, opts)
    if mode == "push":
        op = s.st.ops.create(WEBSOCKET, "Creating instance", resources)
        _listen(op, target.run)
    else:
        op = s.st.ops.create(TASK, "Creating instance", resources, _dial(s, source, target.run))
    target.report = lambda text: op.set_metadata("fs_progress", text)  # before the body first runs
    return async_op(op)
