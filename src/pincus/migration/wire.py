"""The migration channel: one websocket between the two daemons.

Text frames are JSON control messages (``{"type": ...}``); binary frames are the bytes of the
current volume stream. Per volume both sides run :func:`exchange`: each pumps what its local
process produces to the peer and what the peer sends into its local process, marks the end of its
direction with ``{"type": "eof"}``, then reports its process's exit with ``{"type": "status"}``.
Either side may send ``{"type": "error", "message": ...}`` at any time; the other raises it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import WSMsgType

from pincus.base.errors import PincusError
from pincus.base.sizes import byte_size

CHUNK = 1 << 20


class TransferError(PincusError):
    """The transfer failed: the peer reported an error, sent garbage, or went away."""

    status = 500


class Socket(Protocol):
    """What both aiohttp's server and client websockets offer."""

    async def send_str(self, data: str) -> None: ...
    async def send_bytes(self, data: bytes) -> None: ...
    async def receive(self, timeout: float | None = None) -> Any: ...
    async def close(self) -> Any: ...


class Wire:
    """Control messages and data frames over one websocket."""

    def __init__(self, ws: Socket, idle_timeout: float = 600.0) -> None:
        self.ws = ws
        self.idle_timeout = idle_timeout

    async def send(self, msg_type: str, **fields: Any) -> None:
        """Send one control message."""
        await self.ws.send_str(json.dumps({"type": msg_type, **fields}))

    async def send_error(self, message: str) -> None:
        """Tell the peer why this side gives up; never raises."""
        try:
            await self.send("error", message=message)
        except Exception:  # noqa: BLE001 - the peer may already be gone
            pass

    async def frame(self) -> dict[str, Any] | bytes:
        """The next frame: a control message (dict) or data (bytes); peer errors raise."""
        try:
            msg = await self.ws.receive(timeout=self.idle_timeout)
        except TimeoutError:
            raise TransferError("The migration peer stopped answering") from None
        if msg.type == WSMsgType.BINARY:
            return bytes(msg.data)
        if msg.type != WSMsgType.TEXT:
            raise TransferError("The connection to the migration peer was lost")
        try:
            data = json.loads(msg.data)
        except ValueError:
            raise TransferError("The migration peer sent a malformed message") from None
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise TransferError("The migration peer sent a malformed message")
        if data["type"] == "error":
            raise TransferError(f"Migration peer: {data.get('message') or 'unknown error'}")
        return data

    async def recv(self, expected: str) -> dict[str, Any]:
        """The next control message, which must be of type ``expected``."""
        frame = await self.frame()
        if isinstance(frame, bytes) or frame["type"] != expected:
            got = "data" if isinstance(frame, bytes) else frame["type"]
            raise TransferError(f'The migration peer sent "{got}" where "{expected}" was expected')
        return frame

    async def close(self) -> None:
        """Close the websocket; never raises."""
        try:
            await self.ws.close()
        except Exception:  # noqa: BLE001
            pass


Reader = Callable[[], Awaitable[bytes]]  # b"" at the end
Writer = Callable[[bytes], Awaitable[None]]
Closer = Callable[[], Awaitable[None]]


@dataclass
class Local:
    """The local end of one volume stream: what a process produces and consumes, and its exit."""

    read: Reader | None  # None: this side sends nothing (a btrfs receiver)
    write: Writer | None  # None: this side receives nothing (a btrfs sender)
    close_input: Closer | None
    finish: Callable[[], Awaitable[str]]  # waits for the process; "" or why it failed


class Meter:
    """Bytes moved and rate, for the operation's progress (Incus's ``fs_progress``)."""

    def __init__(self, label: str, report: Callable[[str], None] | None, every: float = 1.0) -> None:
        self.label, self.report, self.every = label, report, every
        self.total = 0
        self.start = self._last = time.monotonic()

    def elapsed(self) -> float:
        """Seconds since the stream started."""
        return time.monotonic() - self.start

    def add(self, n: int) -> None:
        """Count n bytes; report at most once per ``every`` seconds."""
        self.total += n
        now = time.monotonic()
        if self.report is not None and now - self._last >= self.every:
            self._last = now
            rate = self.total / max(now - self.start, 1e-6)
            self.report(f"{self.label}: {byte_size(self.total)} ({byte_size(int(rate))}/s)")


async def exchange(wire: Wire, local: Local, meter: Meter | None = None) -> None:
    """Run one volume stream both ways until both sides ended; raise unless both processes succeeded."""

    async def pump_out() -> None:
        if local.read is not None:
            while chunk := await local.read():
                await wire.ws.send_bytes(chunk)
                if meter is not None:
                    meter.add(len(chunk))
        await wire.send("eof")

    sender = asyncio.ensure_future(pump_out())
    try:
        while True:
            frame = await wire.frame()
            if isinstance(frame, bytes):
                if local.write is None:
                    raise TransferError("The migration peer sent data this side does not expect")
                if meter is not None:
                    meter.add(len(frame))
                try:
                    await local.write(frame)
                except (BrokenPipeError, ConnectionResetError):
                    raise TransferError(await local.finish() or "The receiving process ended early") from None
            elif frame["type"] == "eof":
                break
            else:
                raise TransferError(f'The migration peer sent "{frame["type"]}" inside a volume stream')
        if local.close_input is not None:
            await local.close_input()
        await sender
    except BaseException:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        raise
    failure = await local.finish()
    await wire.send("status", error=failure)
    peer = await wire.recv("status")
    if failure:
        raise TransferError(failure)
    if peer.get("error"):
        raise TransferError(f"Migration peer: {peer['error']}")
