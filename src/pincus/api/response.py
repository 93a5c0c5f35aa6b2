"""Incus response envelopes (sync, async, error) and the middleware that answers errors with their status."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from pincus.api.body import query_int
from pincus.base.errors import PincusError, PreconditionFailed
from pincus.core.operations import Operation

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def etag_of(value: Any) -> str:
    """A quoted sha256 ETag of a JSON-able value."""
    return '"' + hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest() + '"'


def sync(metadata: Any, etag: Any = None, status: int = 200) -> web.Response:
    """A sync response; ``etag`` (any JSON-able value) sets the ETag header."""
    body = {"type": "sync", "status": "Success", "status_code": 200, "operation": "",
            "error_code": 0, "error": "", "metadata": metadata}
    headers = {"ETag": etag_of(etag)} if etag is not None else None
    return web.Response(body=_dumps(body).encode(), status=status, content_type="application/json", headers=headers)


def async_op(op: Operation) -> web.Response:
    """202 Accepted with the operation and its Location."""
    body = {"type": "async", "status": "Operation created", "status_code": 100, "operation": op.url,
            "error_code": 0, "error": "", "metadata": op.to_api()}
    return web.Response(body=_dumps(body).encode(), status=202, content_type="application/json",
                        headers={"Location": op.url})


def error(status: int, message: str) -> web.Response:
    """An error response in Incus's shape."""
    body = {"type": "error", "status": "", "status_code": 0, "operation": "",
            "error_code": status, "error": message, "metadata": None}
    return web.Response(body=_dumps(body).encode(), status=status, content_type="application/json")


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn exceptions into Incus error envelopes."""
    try:
        return await handler(request)
    except PincusError as exc:
        return error(exc.status, str(exc))
    except web.HTTPException as exc:
        if exc.status == 404:
            return error(404, "not found")
        if exc.status == 405:
            return error(405, "method not allowed")
        raise
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return error(400, f"Invalid request body: {exc}")
    except RecursionError:
        return error(400, "Invalid request: nested too deeply")
    except Exception as exc:  # noqa: BLE001 - a handler bug must still answer in Incus's shape
        log.exception("%s %s failed", request.method, request.path)
        return error(500, str(exc) or type(exc).__name__)


def check_etag(request: web.Request, current: Any) -> None:
    """Honour If-Match: 412 when the client's ETag no longer matches."""
    wanted = request.headers.get("If-Match")
    if wanted and wanted != etag_of(current):
        raise PreconditionFailed("ETag doesn't match")


def recursion(request: web.Request) -> int:
    """The ?recursion= level; not a number: a 400."""
    return query_int(request, "recursion", 0)
