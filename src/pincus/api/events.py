"""/1.0/events: the websocket stream of operation, lifecycle and logging events."""

from __future__ import annotations

import asyncio
import json

from aiohttp import WSMsgType, web

from pincus.api.auth import event_visible, identity
from pincus.api.context import svc

routes = web.RouteTableDef()
KEEPALIVE_SECONDS = 30.0


@routes.get("/1.0/events")
async def events_get(request: web.Request) -> web.StreamResponse:
    """Stream events (filtered by ?type=a,b) until the client goes away."""
    types = {t for t in request.query.get("type", "").split(",") if t}
    ws = web.WebSocketResponse(autoping=True)
    await ws.prepare(request)
    hub = svc(request).st.hub
    listener = hub.subscribe(types)
    ident = identity(request)

    async def pump() -> None:
        try:
            await _pump()
        except (ConnectionResetError, RuntimeError):
            return

    async def _pump() -> None:
        while True:
            try:
                event = await asyncio.wait_for(listener.queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await ws.ping(b"keepalive")
                continue
            if event_visible(ident, event):
                await ws.send_str(json.dumps(event, separators=(",", ":")))

    sender = asyncio.get_running_loop().create_task(pump())
    try:
        await ws.ping(b"keepalive")
        async for msg in ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
    finally:
        sender.cancel()
        hub.unsubscribe(listener)
    return ws
