"""POST /1.0/instances/{name}/exec and the operation websockets (like cmd/incusd/instance_exec.go).

Protocol, as the stock client speaks it: the operation exposes secrets in metadata.fds
("0","1","2","control" or, interactive, "0","control"); the client opens one websocket per
secret; output goes as binary frames, end of a stream as an empty text frame; stdin ends with
an empty text frame; control carries window-resize and signal messages; the exit code is
metadata.return of the finished operation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets as secrets_mod
import signal as signal_mod
from typing import Any

from aiohttp import WSMsgType, web

from pincus.api.body import read_body
from pincus.api.context import svc
from pincus.api.fdio import close_quietly, read_fd, set_nonblocking, wait_readable, write_fd
from pincus.api.response import async_op
from pincus.api.schema import InstanceExecPost
from pincus.base.errors import Forbidden, InvalidArgument, NotFound, PincusError
from pincus.core.events import INSTANCE_EXEC
from pincus.core.instances import instance_url
from pincus.core.operations import WEBSOCKET, Operation
from pincus.runtime.base import STOPPED, ExecProcess, ExecSpec

routes = web.RouteTableDef()
CONNECT_TIMEOUT = 30.0


class ExecSession:
    """The websockets of one exec operation."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.connected = asyncio.Event()
        self.control = asyncio.Event()
        self.finished = asyncio.Event()

    def attach(self, key: str, ws: web.WebSocketResponse) -> None:
        """Register a connected websocket; the command starts once every data stream is connected."""
        self.sockets[key] = ws
        if key == "control":
            self.control.set()
        if all(k in self.sockets for k in self.keys if k != "control"):
            self.connected.set()


SESSIONS: dict[str, ExecSession] = {}


def _spec(req: InstanceExecPost) -> ExecSpec:
    if not req.command:
        raise InvalidArgument("Invalid command: a non-empty list of strings is required")
    return ExecSpec(argv=req.command, environment=dict(req.environment or {}), cwd=req.cwd or "",
                    uid=req.user or 0, gid=req.group or 0)


@routes.post("/1.0/instances/{name}/exec")
async def instance_exec_post(request: web.Request) -> web.Response:
    """Start a command inside a running instance."""
    s = svc(request)
    # First of all: the attach follows in a few milliseconds (the client connects the websockets),
    # and the sooner this starts the more of the wait it hides; a refused request wastes no more.
    s.st.executor.submit(s.st.runtime.prepare_exec)
    name = request.match_info["name"]
    s.instances.get(name)  # NotFound
    rt_name = s.st.runtime_name(name)
    if s.st.runtime.status(rt_name) == STOPPED:  # not state(): its cgroup figures cost milliseconds
        raise InvalidArgument("Instance is not running")
    req = await read_body(request, InstanceExecPost)
    spec = _spec(req)
    if not req.wait_for_websocket:
        raise InvalidArgument("Only exec with wait-for-websocket is supported")
    interactive = bool(req.interactive)
    width, height = req.width or 80, req.height or 24
    keys = ["0", "control"] if interactive else ["0", "1", "2", "control"]
    session = ExecSession(keys)

    async def body(op: Operation) -> dict[str, Any]:
        try:
            try:
                await asyncio.wait_for(session.connected.wait(), CONNECT_TIMEOUT)
            except TimeoutError:
                raise PincusError("Timed out waiting for the exec websockets to connect") from None
            proc = await _start(s, rt_name, spec, interactive, width, height)
            s.st.hub.lifecycle(INSTANCE_EXEC, instance_url(name), {"command": spec.argv})
            code = await (_run_pty(s, proc, session) if interactive else _run_pipes(s, proc, session))
        finally:
            # The handlers return their websockets, which aiohttp closes (each its own close
            # handshake): the outcome need not wait for the client's answers, as Incus's does not.
            session.finished.set()
            SESSIONS.pop(op.id, None)
        return {**(op.metadata or {}), "return": code}

    op = s.st.ops.create(WEBSOCKET, "Executing command", {"instances": [instance_url(name)]})
    op.metadata = {"command": spec.argv, "environment": spec.environment, "interactive": interactive,
                   "fds": {k: op.new_secret(k) for k in keys}}
    SESSIONS[op.id] = session
    op.start(body)
    return async_op(op)


async def _start(s: Any, rt_name: str, spec: ExecSpec, interactive: bool, width: int, height: int) -> ExecProcess:
    """Attach from the event loop unless that would mean waiting for a start or freeze in flight
    (see LxcRuntime.try_exec); an interactive attach also waits for the child's pty, so in a thread."""
    if not interactive:
        proc = s.st.runtime.try_exec(rt_name, spec)
        if proc is not None:
            return proc
    return await s.st.blocking(s.st.runtime.exec, rt_name, spec, interactive, width, height)


async def _exit_code(s: Any, proc: ExecProcess) -> int:
    """Wait for the exit on the process's pidfd, in the event loop; wait() then returns at once."""
    if proc.pidfd < 0:
        return await s.st.blocking(proc.wait)
    await wait_readable(proc.pidfd)
    return proc.wait()


async def _control(session: ExecSession, proc: ExecProcess) -> None:
    await session.control.wait()  # a client may connect it later, or never (pylxd)
    async for msg in session.sockets["control"]:
        if msg.type != WSMsgType.TEXT or not msg.data.strip():
            continue
        try:
            ctl = json.loads(msg.data)
        except json.JSONDecodeError:
            continue
        if ctl.get("command") == "window-resize":
            args = ctl.get("args") or {}
            with contextlib.suppress(ValueError, OSError):
                proc.resize(int(args.get("width", 80)), int(args.get("height", 24)))
        elif ctl.get("command") == "signal":
            with contextlib.suppress(ValueError, OSError, ProcessLookupError):
                proc.signal(int(ctl.get("signal") or signal_mod.SIGTERM))


async def _ws_to_fd(ws: web.WebSocketResponse, fd: int, owns_fd: bool) -> None:
    """Copy binary messages to fd until the empty text message (stdin's end); owns_fd: then close it."""
    try:
        async for msg in ws:
            if msg.type == WSMsgType.BINARY and msg.data:
                await write_fd(fd, msg.data)
            elif msg.type == WSMsgType.TEXT and msg.data == "":
                break
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
    except OSError:
        pass
    finally:
        if owns_fd:
            close_quietly(fd)


async def _fd_to_ws(fd: int, ws: web.WebSocketResponse, owns_fd: bool) -> None:
    """Send what fd gives as binary messages, then the empty text message; owns_fd: then close it,
    also when the client went away (the command's next write then fails, as into a closed pipe)."""
    try:
        while data := await read_fd(fd):
            await ws.send_bytes(data)
        await ws.send_str("")
    except (ConnectionResetError, RuntimeError):
        pass
    finally:
        if owns_fd:
            close_quietly(fd)


async def _run_pipes(s: Any, proc: ExecProcess, session: ExecSession) -> int:
    """Each task owns and closes its pipe; the outcome is known once the command exited and both
    outputs reached their end (the empty text messages are sent)."""
    for fd in (proc.stdin_fd, proc.stdout_fd, proc.stderr_fd):
        set_nonblocking(fd)
    socks = session.sockets
    loop = asyncio.get_running_loop()
    tasks = [
        loop.create_task(_ws_to_fd(socks["0"], proc.stdin_fd, owns_fd=True)),
        loop.create_task(_control(session, proc)),
        loop.create_task(_fd_to_ws(proc.stdout_fd, socks["1"], owns_fd=True)),
        loop.create_task(_fd_to_ws(proc.stderr_fd, socks["2"], owns_fd=True)),
    ]
    try:
        code = await _exit_code(s, proc)
        await asyncio.gather(tasks[2], tasks[3])
    finally:
        for task in tasks:
            task.cancel()  # each closes its fd as it ends; nothing to wait for
    return code


async def _run_pty(s: Any, proc: ExecProcess, session: ExecSession) -> int:
    """Stdin and output share the master: it is closed once both tasks have ended."""
    master = proc.master_fd
    set_nonblocking(master)
    ws = session.sockets["0"]
    loop = asyncio.get_running_loop()
    out = loop.create_task(_fd_to_ws(master, ws, owns_fd=False))
    tasks = [loop.create_task(_ws_to_fd(ws, master, owns_fd=False)), loop.create_task(_control(session, proc)), out]
    asyncio.gather(*tasks, return_exceptions=True).add_done_callback(lambda _: close_quietly(master))
    try:
        code = await _exit_code(s, proc)
        # The pty ends (EIO) when the last holder of the terminal exits; a background process that
        # keeps it open only gets 2 s of output.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(out, 2.0)
    finally:
        for task in tasks:
            task.cancel()
    return code


@routes.get("/1.0/operations/{id}/websocket")
async def operation_websocket(request: web.Request) -> web.StreamResponse:
    """Connect one of an exec operation's websockets by its secret."""
    s = svc(request)
    op = s.st.ops.get(request.match_info["id"])
    session = SESSIONS.get(op.id)
    if session is None and op.on_websocket is None:
        raise NotFound("Operation has no websockets")
    secret = request.query.get("secret", "")
    key = next((k for k, v in op.secrets.items() if secrets_mod.compare_digest(v, secret)), None)
    if key is None or (session is not None and key in session.sockets):
        raise Forbidden("Wrong secret")
    if session is None:
        assert op.on_websocket is not None
        handler, op.on_websocket = op.on_websocket, None  # one connection per migration operation
        ws = web.WebSocketResponse(autoping=True, heartbeat=30, max_msg_size=0)
        await ws.prepare(request)
        await handler(key, ws)
        return ws
    ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
    await ws.prepare(request)
    await ws.ping(b"keepalive")
    session.attach(key, ws)
    await session.finished.wait()
    return ws
