"""Background operations: the async half of the Incus API (202 + /1.0/operations/{id})."""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pincus.base.errors import NotFound, PincusError
from pincus.base.gotime import format_time, now_utc
from pincus.core.events import EventHub

log = logging.getLogger(__name__)

# status -> status_code, as Incus.
PENDING, RUNNING, SUCCESS, FAILURE, CANCELLED = "Pending", "Running", "Success", "Failure", "Cancelled"
STATUS_CODES = {PENDING: 105, RUNNING: 103, SUCCESS: 200, FAILURE: 400, CANCELLED: 401}

TASK, WEBSOCKET, TOKEN = "task", "websocket", "token"
KEEP_FINISHED_SECONDS = 60.0

Body = Callable[["Operation"], Awaitable[dict[str, Any] | None]]


class Operation:
    """One operation; its body runs as an asyncio task and its status is published as events."""

    def __init__(self, hub: EventHub, op_class: str, description: str, resources: dict[str, list[str]]) -> None:
        self.id = str(uuid.uuid4())
        self.op_class = op_class
        self.description = description
        self.resources = resources
        self.metadata: dict[str, Any] | None = None
        self.status = PENDING
        self.err = ""
        self.may_cancel = False
        self.created_at = now_utc()
        self.updated_at = self.created_at
        self.done = asyncio.Event()
        self.secrets: dict[str, str] = {}
        # Called with (secret key, websocket) when a peer connects to /websocket; returns when done.
        self.on_websocket: Callable[[str, Any], Awaitable[None]] | None = None
        self._hub = hub
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The operation's API path."""
        return f"/1.0/operations/{self.id}"

    def to_api(self) -> dict[str, Any]:
        """The Incus Operation object."""
        return {
            "id": self.id,
            "class": self.op_class,
            "description": self.description,
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
            "status": self.status,
            "status_code": STATUS_CODES[self.status],
            "resources": self.resources or None,
            "metadata": self.metadata,
            "may_cancel": self.may_cancel,
            "err": self.err,
            "location": "none",
        }

    def new_secret(self, key: str) -> str:
        """Create a websocket secret for ``key`` (exec fds) and expose it in metadata.fds."""
        secret = secrets.token_hex(32)
        self.secrets[key] = secret
        return secret

    def set_metadata(self, key: str, value: Any) -> None:
        """Change one metadata field of a running operation (progress) and publish it."""
        self.metadata = {**(self.metadata or {}), key: value}
        self._set(self.status)

    def _set(self, status: str) -> None:
        self.status = status
        self.updated_at = now_utc()
        self._hub.publish("operation", self.to_api())

    def start(self, body: Body) -> None:
        """Run ``body`` in the background; its result dict becomes the operation's metadata."""
        self._hub.publish("operation", self.to_api())
        self._set(RUNNING)  # before the 202 answer, as Incus
        self._task = asyncio.get_running_loop().create_task(self._run(body))

    async def _run(self, body: Body) -> None:
        try:
            result = await body(self)
            if result is not None:
                self.metadata = result
            self._set(SUCCESS)
        except asyncio.CancelledError:
            self.err = "Operation cancelled"
            self._set(CANCELLED)
        except PincusError as exc:
            self.err = str(exc)
            self._set(FAILURE)
        except Exception as exc:  # noqa: BLE001 - report any failure through the operation
            log.exception("operation %s (%s) failed", self.id, self.description)
            self.err = str(exc) or type(exc).__name__
            self._set(FAILURE)
        finally:
            self.done.set()

    async def wait(self, timeout: float | None) -> bool:
        """Wait until the operation is final; False on timeout."""
        try:
            await asyncio.wait_for(self.done.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def cancel(self) -> None:
        """Cancel a cancellable operation."""
        if self._task is not None and self.may_cancel:
            self._task.cancel()


class OperationRegistry:
    """The daemon's operations; finished ones are kept a while so clients can still read them."""

    def __init__(self, hub: EventHub) -> None:
        self.hub = hub
        self._ops: dict[str, Operation] = {}

    def create(
        self, op_class: str, description: str, resources: dict[str, list[str]], body: Body | None = None
    ) -> Operation:
        """Register an operation and start its body (if given)."""
        op = Operation(self.hub, op_class, description, resources)
        self._ops[op.id] = op
        if body is not None:
            op.start(body)
        asyncio.get_running_loop().create_task(self._expire(op))
        return op

    async def _expire(self, op: Operation) -> None:
        await op.done.wait()
        await asyncio.sleep(KEEP_FINISHED_SECONDS)
        self._ops.pop(op.id, None)

    def get(self, op_id: str) -> Operation:
        """One operation by id."""
        try:
            return self._ops[op_id]
        except KeyError:
            raise NotFound("Operation not found") from None

    def all(self) -> list[Operation]:
        """Every known operation."""
        return list(self._ops.values())

    async def drain(self, timeout: float) -> None:
        """Wait for running operations (daemon shutdown)."""
        running = [op.done.wait() for op in self._ops.values() if not op.done.is_set()]
        if running:
            await asyncio.wait([asyncio.ensure_future(c) for c in running], timeout=timeout)
