"""POST /1.0/instances/{name}/exec and its websockets, on the fake runtime (commands run on the host)."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import aiohttp

from pincus.runtime.fake import FakeRuntime


async def _start_exec(api: Any, command: list[str], **req: Any) -> tuple[str, dict[str, str]]:
    await api.create()
    await api.ok("PUT", "/1.0/instances/c1/state", {"action": "start"})
    body = {"command": command, "wait-for-websocket": True, "interactive": False, **req}
    status, data = await api.call("POST", "/1.0/instances/c1/exec", body, wait=False)
    assert status == 202, data
    return data["operation"], data["metadata"]["metadata"]["fds"]


async def _connect(api: Any, op: str, fds: dict[str, str], keys: list[str]) -> dict[str, Any]:
    return {k: await api.client.ws_connect(f"{op}/websocket?secret={fds[k]}") for k in keys}


async def _read_stream(ws: Any) -> bytes:
    """Binary messages up to the empty text message that ends a stream."""
    out = b""
    while True:
        msg = await ws.receive()
        if msg.type == aiohttp.WSMsgType.BINARY:
            out += msg.data
        elif msg.type == aiohttp.WSMsgType.TEXT and msg.data == "":
            return out
        else:
            raise AssertionError(f"unexpected {msg.type} {msg.data!r}")


async def _outcome(api: Any, op: str) -> dict[str, Any]:
    resp = await api.client.get(f"{op}/wait?timeout=30")
    data = (await resp.json())["metadata"]
    assert data["status"] == "Success", data
    return data


async def _close(socks: dict[str, Any]) -> None:
    for ws in socks.values():
        await ws.close()


async def test_pipes_streams_and_exit_code(api):
    op, fds = await _start_exec(api, ["sh", "-c", "printf out; printf err >&2; exit 3"])
    assert set(fds) == {"0", "1", "2", "control"}
    socks = await _connect(api, op, fds, ["control", "0", "1", "2"])
    await socks["0"].send_str("")
    assert await _read_stream(socks["1"]) == b"out"
    assert await _read_stream(socks["2"]) == b"err"
    assert (await _outcome(api, op))["metadata"]["return"] == 3
    await _close(socks)


async def test_stdin_reaches_the_command_until_its_end(api):
    op, fds = await _start_exec(api, ["cat"])
    socks = await _connect(api, op, fds, ["0", "1", "2"])  # no control socket (pylxd)
    for chunk in (b"hello ", b"world"):
        await socks["0"].send_bytes(chunk)
    await socks["0"].send_str("")
    assert await _read_stream(socks["1"]) == b"hello world"
    assert await _read_stream(socks["2"]) == b""
    assert (await _outcome(api, op))["metadata"]["return"] == 0
    await _close(socks)


async def test_large_output_keeps_its_order(api):
    op, fds = await _start_exec(api, ["sh", "-c", "seq 1 200000"])
    socks = await _connect(api, op, fds, ["control", "0", "1", "2"])
    await socks["0"].send_str("")
    out = await _read_stream(socks["1"])
    assert out == "".join(f"{i}\n" for i in range(1, 200001)).encode()
    assert (await _outcome(api, op))["metadata"]["return"] == 0
    await _close(socks)


async def test_signal_on_control_socket(api):
    op, fds = await _start_exec(api, ["sleep", "60"])
    socks = await _connect(api, op, fds, ["control", "0", "1", "2"])
    await socks["control"].send_str(json.dumps({"command": "signal", "signal": int(signal.SIGTERM)}) + "\n")
    assert await _read_stream(socks["1"]) == b""
    assert (await _outcome(api, op))["metadata"]["return"] == 128 + signal.SIGTERM
    await _close(socks)


async def test_outcome_does_not_wait_for_the_client_to_close(api):
    """The operation ends with the command and its output; a client that keeps its websockets
    open (and never answers a close frame) does not hold it up."""
    op, fds = await _start_exec(api, ["true"])
    socks = await _connect(api, op, fds, ["control", "0", "1", "2"])
    await socks["0"].send_str("")
    assert (await _outcome(api, op))["metadata"]["return"] == 0
    assert await _read_stream(socks["1"]) == b""
    await _close(socks)


async def test_interactive_pty_size_and_resize(api):
    op, fds = await _start_exec(api, ["sh"], interactive=True, width=100, height=30,
                                environment={"PS1": ""})
    assert set(fds) == {"0", "control"}
    socks = await _connect(api, op, fds, ["control", "0"])
    term = socks["0"]
    await term.send_bytes(b"stty size\n")
    await _read_until(term, b"30 100")
    await socks["control"].send_str(json.dumps({"command": "window-resize", "args": {"width": "90", "height": "20"}}))
    await asyncio.sleep(0.2)  # the control and terminal sockets are not ordered with each other
    await term.send_bytes(b"stty size; exit 7\n")
    rest = await _read_stream(term)
    assert b"20 90" in rest
    assert (await _outcome(api, op))["metadata"]["return"] == 7
    await _close(socks)


async def _read_until(ws: Any, needle: bytes) -> bytes:
    out = b""
    while needle not in out:
        msg = await ws.receive()
        assert msg.type == aiohttp.WSMsgType.BINARY, (msg.type, msg.data, out)
        out += msg.data
    return out


async def test_exec_on_stopped_instance_is_refused(api):
    await api.create()
    status, data = await api.call("POST", "/1.0/instances/c1/exec", {"command": ["true"], "wait-for-websocket": True})
    assert status == 400 and data["error"] == "Instance is not running"


async def test_busy_runtime_falls_back_to_a_thread(api, monkeypatch):
    """try_exec answering None (a start or freeze in flight) means exec() in a worker thread."""
    calls: list[str] = []

    def busy(name: str, spec: Any) -> None:
        calls.append("try_exec")
        return None

    original = FakeRuntime.exec

    def exec_in_thread(self: FakeRuntime, *args: Any, **kw: Any) -> Any:
        calls.append("exec")
        return original(self, *args, **kw)

    monkeypatch.setattr(api.runtime, "try_exec", busy)
    monkeypatch.setattr(FakeRuntime, "exec", exec_in_thread)
    op, fds = await _start_exec(api, ["sh", "-c", "echo hi"])
    socks = await _connect(api, op, fds, ["control", "0", "1", "2"])
    await socks["0"].send_str("")
    assert await _read_stream(socks["1"]) == b"hi\n"
    assert (await _outcome(api, op))["metadata"]["return"] == 0
    assert calls == ["try_exec", "exec"]
    await _close(socks)


async def test_process_without_pidfd_is_waited_for_in_a_thread(api):
    """A canned reply has no process (pidfd -1): its exit code comes from wait() in a thread."""
    api.runtime.reply(["canned"], stdout=b"x" * 100_000, stderr=b"oops", code=5)
    op, fds = await _start_exec(api, ["canned"])
    socks = await _connect(api, op, fds, ["control", "0", "1", "2"])
    await socks["0"].send_str("")
    assert await _read_stream(socks["1"]) == b"x" * 100_000
    assert await _read_stream(socks["2"]) == b"oops"
    assert (await _outcome(api, op))["metadata"]["return"] == 5
    await _close(socks)
