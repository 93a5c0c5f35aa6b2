"""The websocket client: handshake keys and their proof, and exec's streams opened with one round trip."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import threading
from pathlib import Path

import pytest

from pincus.client.connection import ClientError, Connection
from pincus.client.websocket import TEXT, WebSocket, accept_key, b64encode, encode_frame, new_key


def test_b64encode_is_standard_base64() -> None:
    for size in range(40):
        data = os.urandom(size)
        assert b64encode(data) == base64.b64encode(data).decode("ascii")
    assert len(base64.b64decode(new_key())) == 16


def test_accept_key_rfc6455_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def _serve(path: Path, expected: int, answers: dict[str, str]) -> threading.Thread:
    """A server that answers no handshake until all ``expected`` requests arrived.

    ``answers`` maps a request's secret to what it gets instead of a correct 101: "403", or a
    101 with "no-accept" (no Sec-WebSocket-Accept) or "wrong-accept" (the accept of another key).
    """
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(8)
    listener.settimeout(5)

    def run() -> None:
        conns = []
        try:
            for _ in range(expected):
                conn, _ = listener.accept()
                conn.settimeout(5)
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(4096)
                conns.append((conn, request))
            for conn, request in conns:
                target = request.split(b" ")[1].decode()
                key = request.split(b"Sec-WebSocket-Key: ")[1].split(b"\r\n")[0].decode()
                answer_kind = answers.get(target.rsplit("=", 1)[-1], "101")
                if answer_kind != "403":
                    accept = {"101": accept_key(key), "wrong-accept": accept_key(new_key())}.get(answer_kind)
                    head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    if accept is not None:
                        head += f"Sec-WebSocket-Accept: {accept}\r\n".encode()
                    answer = head + b"\r\n" + encode_frame(TEXT, target.encode(), masked=False)
                else:
                    body = b'{"type":"error","error":"Wrong secret","error_code":403}'
                    answer = (
                        b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                    )
                # A client that saw a refused handshake closes the others, maybe before this answer.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    conn.sendall(answer)
        finally:
            for conn, _ in conns:
                conn.close()
            listener.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_connect_all_sends_every_handshake_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "unix.socket"
    thread = _serve(path, 4, {})
    paths = [f"/1.0/operations/x/websocket?secret={key}" for key in ("c", "0", "1", "2")]
    sockets = WebSocket.connect_all(Connection(str(path)), paths)
    try:
        # bytes sent right after the 101 stay with their websocket
        assert [ws.recv() for ws in sockets] == [(TEXT, p.encode()) for p in paths]
    finally:
        for ws in sockets:
            ws.close()
    thread.join(5)


def _tracked(conn: Connection) -> tuple[Connection, list[socket.socket]]:
    """The connection, and the list of every socket it opens (to check they all get closed)."""
    opened: list[socket.socket] = []
    original = conn._connect

    def tracking_connect() -> socket.socket:
        sock = original()
        opened.append(sock)
        return sock

    conn._connect = tracking_connect  # type: ignore[method-assign]
    return conn, opened


def test_connect_all_closes_everything_on_a_refused_handshake(tmp_path: Path) -> None:
    path = tmp_path / "unix.socket"
    thread = _serve(path, 3, {"bad": "403"})
    paths = [f"/ws?secret={key}" for key in ("a", "bad", "c")]
    conn, opened = _tracked(Connection(str(path)))
    with pytest.raises(ClientError, match="Wrong secret"):
        WebSocket.connect_all(conn, paths)
    assert len(opened) == 3 and all(sock.fileno() == -1 for sock in opened)
    thread.join(5)


@pytest.mark.parametrize(("answer", "error"), [("no-accept", "no Sec-WebSocket-Accept"), ("wrong-accept", "wrong")])
def test_a_handshake_without_the_right_accept_is_refused(tmp_path: Path, answer: str, error: str) -> None:
    # RFC 6455 4.1: a 101 that does not prove the server read this request's key fails the connection.
    path = tmp_path / "unix.socket"
    thread = _serve(path, 2, {"bad": answer})
    conn, opened = _tracked(Connection(str(path)))
    with pytest.raises(ClientError, match=f'Websocket handshake for "/ws\\?secret=bad" failed: {error}'):
        WebSocket.connect_all(conn, ["/ws?secret=ok", "/ws?secret=bad"])
    assert len(opened) == 2 and all(sock.fileno() == -1 for sock in opened)
    thread.join(5)
