"""An in-process fake Incus daemon on a unix socket: records requests, answers with Incus envelopes."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


Reply = tuple[int, Any]  # (HTTP status, envelope dict) or raw bytes with a content type


def sync(metadata: Any, etag: str = "") -> Reply:
    """A sync success envelope."""
    doc = {
        "type": "sync",
        "status": "Success",
        "status_code": 200,
        "operation": "",
        "error_code": 0,
        "error": "",
    }
    doc["metadata"] = metadata
    return (200, {"_etag": etag, **doc}) if etag else (200, doc)


def error(status: int, message: str) -> Reply:
    """An error envelope."""
    doc = {
        "type": "error",
        "status": "",
        "status_code": 0,
        "operation": "",
        "error_code": status,
        "error": message,
    }
    return status, {**doc, "metadata": None}


@dataclass
class FakeIncus:
    """Routes ``(METHOD, path-without-query)`` to handlers; async calls get an operation that succeeds."""

    socket_path: str
    requests: list[Request] = field(default_factory=list)
    routes: dict[tuple[str, str], Callable[[Request], Reply]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    wait_supported: bool = True

    def route(self, method: str, path: str, reply: Reply | Callable[[Request], Reply]) -> None:
        """Answer ``method path`` with a fixed reply or a handler."""
        self.routes[(method, path)] = reply if callable(reply) else (lambda _req, r=reply: r)

    def operation(self, err: str = "", metadata: Any = None, resources: Any = None) -> Reply:
        """A 202 async envelope for a new operation that finishes with ``err`` ("" is success)."""
        op_id = str(uuid.uuid4())
        op = {
            "id": op_id, "class": "task", "description": "Test", "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z", "status": "Failure" if err else "Success",
            "status_code": 400 if err else 200, "resources": resources or {}, "metadata": metadata,
            "may_cancel": False, "err": err, "location": "none",
        }  # fmt: skip
        self.operations[op_id] = op
        running = {**op, "status": "Running", "status_code": 103, "err": ""}
        doc = {"type": "async", "status": "Operation created", "status_code": 100,
               "operation": f"/1.0/operations/{op_id}", "error_code": 0, "error": "", "metadata": running}  # fmt: skip
        return 202, doc

    def handle(self, req: Request) -> Reply:
        """Dispatch one request."""
        path = req.path.split("?", 1)[0]
        if path.startswith("/1.0/operations/"):
            op_id = path.split("/")[3]
            op = self.operations.get(op_id)
            if op is None:
                return error(404, "Operation not found")
            if path.endswith("/wait") and not self.wait_supported:
                return error(404, "not found")
            if path.endswith("/wait") and op["err"]:
                return error(500, op["err"])
            return sync(op)
        handler = self.routes.get((req.method, path))
        if handler is None:
            return error(404, "not found")
        return handler(req)

    @property
    def calls(self) -> list[tuple[str, str]]:
        """(method, path) of every request so far."""
        return [(r.method, r.path) for r in self.requests]


def _read_request(conn: socket.socket) -> Request | None:
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            return None
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = _read_body(conn, headers, rest)
    return Request(method, path, headers, body)


def _read_body(conn: socket.socket, headers: dict[str, str], rest: bytes) -> bytes:
    if "content-length" in headers:
        size = int(headers["content-length"])
        while len(rest) < size:
            rest += conn.recv(65536)
        return rest[:size]
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += conn.recv(65536)
            line, _, rest = rest.partition(b"\r\n")
            size = int(line, 16)
            while len(rest) < size + 2:
                rest += conn.recv(65536)
            if size == 0:
                return body
            body += rest[:size]
            rest = rest[size + 2 :]
    return b""


def _send(conn: socket.socket, reply: Reply) -> None:
    status, doc = reply
    extra = ""
    if isinstance(doc, dict):
        doc = dict(doc)
        etag = doc.pop("_etag", "")
        if etag:
            extra += f"ETag: {etag}\r\n"
        if doc.get("type") == "async":
            extra += f"Location: {doc['operation']}\r\n"
        body = json.dumps(doc).encode()
        ctype = "application/json"
    else:
        body, ctype = doc, "application/octet-stream"
    head = f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\n{extra}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    conn.sendall(head.encode() + body)


def start() -> tuple[FakeIncus, Callable[[], None]]:
    """Start a fake daemon in a thread; returns it and a stop function."""
    tmp = tempfile.mkdtemp(prefix="pincus-fake-")
    path = os.path.join(tmp, "unix.socket")
    fake = FakeIncus(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                req = _read_request(conn)
                if req is None:
                    continue
                fake.requests.append(req)
                _send(conn, fake.handle(req))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        try:
            server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        server.close()
        thread.join(timeout=5)
        os.unlink(path)
        os.rmdir(tmp)

    return fake, stop
