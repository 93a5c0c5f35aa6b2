"""A minimal RFC 6455 websocket client over the daemon socket (exec and console streams).

Only ``os`` and the client's own modules are imported: ``pincus exec`` is benchmarked against the
Go client, and ``struct`` and ``binascii`` are shared libraries here (``binascii`` pulls in libz),
so lengths are packed with ``int.to_bytes`` and the 16-byte handshake key is base64'd by hand.
The server's Sec-WebSocket-Accept is checked with ``_sha1`` (``hashlib`` loads libcrypto, ~2 ms).
"""

from __future__ import annotations

import os

from pincus.client.connection import ClientError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pincus.client.connection import Connection

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64encode(data: bytes) -> str:
    """Standard base64 with padding (what ``binascii.b2a_base64`` gives, for short inputs)."""
    out = []
    for start in range(0, len(data), 3):
        chunk = data[start : start + 3]
        bits = int.from_bytes(chunk.ljust(3, b"\0"), "big")
        chars = "".join(_B64[(bits >> shift) & 63] for shift in (18, 12, 6, 0))
        out.append(chars[: len(chunk) + 1].ljust(4, "="))
    return "".join(out)


def new_key() -> str:
    """A fresh Sec-WebSocket-Key: 16 random bytes, base64."""
    return b64encode(os.urandom(16))


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value a server must answer for ``key``."""
    try:
        from _sha1 import sha1  # CPython's own SHA-1: no libcrypto to load
    except ImportError:  # a build without the built-in hashes
        from hashlib import sha1

    return b64encode(sha1(key.encode("ascii") + _GUID).digest())


def check_accept(path: str, key: str, headers: dict[str, str]) -> None:
    """Fail unless the 101 answer's Sec-WebSocket-Accept proves the server read ``key`` (RFC 6455 4.1)."""
    got = headers.get("sec-websocket-accept")
    if got is None:
        raise ClientError(0, f'Websocket handshake for "{path}" failed: no Sec-WebSocket-Accept in the answer')
    if got != accept_key(key):
        raise ClientError(0, f'Websocket handshake for "{path}" failed: wrong Sec-WebSocket-Accept "{got}"')


def mask(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with the 4-byte masking ``key`` (RFC 6455 section 5.3)."""
    size = len(data)
    if not size:
        return b""
    pad = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "big") ^ int.from_bytes(pad, "big")).to_bytes(size, "big")


def encode_frame(opcode: int, payload: bytes, masked: bool = True, fin: bool = True) -> bytes:
    """Build one frame; client frames are always masked."""
    head = bytearray([(0x80 if fin else 0) | opcode])
    size = len(payload)
    bit = 0x80 if masked else 0
    if size < 126:
        head.append(bit | size)
    elif size < 1 << 16:
        head.append(bit | 126)
        head += size.to_bytes(2, "big")
    else:
        head.append(bit | 127)
        head += size.to_bytes(8, "big")
    if not masked:
        return bytes(head) + payload
    key = os.urandom(4)
    return bytes(head) + key + mask(payload, key)


def decode_frames(buf: bytearray) -> list[tuple[bool, int, bytes]]:
    """Remove every complete frame from ``buf``; return (fin, opcode, payload) tuples."""
    frames = []
    while len(buf) >= 2:
        fin = bool(buf[0] & 0x80)
        opcode = buf[0] & 0x0F
        masked = bool(buf[1] & 0x80)
        size = buf[1] & 0x7F
        pos = 2
        if size == 126:
            if len(buf) < 4:
                break
            size = int.from_bytes(buf[2:4], "big")
            pos = 4
        elif size == 127:
            if len(buf) < 10:
                break
            size = int.from_bytes(buf[2:10], "big")
            pos = 10
        key = b""
        if masked:
            key = bytes(buf[pos : pos + 4])
            pos += 4
        if len(buf) < pos + size:
            break
        payload = bytes(buf[pos : pos + size])
        del buf[: pos + size]
        frames.append((fin, opcode, mask(payload, key) if masked else payload))
    return frames


def _handshake_headers(key: str) -> dict[str, str]:
    return {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": "13",
    }


class WebSocket:
    """A client websocket; ``poll()`` reads once and returns the complete messages."""

    def __init__(self, sock: Any, initial: bytes = b"") -> None:
        self.sock = sock
        self.buf = bytearray(initial)
        self._partial: list[bytes] = []
        self._partial_op = BINARY
        self._ready: list[tuple[int, bytes]] = []
        self.closed = False
        self.close_sent = False

    @classmethod
    def connect(cls, conn: Connection, path: str) -> WebSocket:
        """Open ``path`` on ``conn`` with a websocket handshake."""
        return cls.connect_all(conn, [path])[0]

    @classmethod
    def connect_all(cls, conn: Connection, paths: list[str]) -> list[WebSocket]:
        """Open several websockets: every handshake is sent before any answer is read, so opening
        exec's four streams costs one round trip instead of four."""
        socks: list[Any] = []
        keys = [new_key() for _ in paths]
        try:
            for path, key in zip(paths, keys, strict=True):
                socks.append(conn.start_upgrade(path, _handshake_headers(key)))
            opened = []
            for path, key, sock in zip(paths, keys, socks, strict=True):
                _, headers, initial = conn.finish_upgrade(sock)
                check_accept(path, key, headers)
                opened.append(cls(sock, initial))
            return opened
        except BaseException:
            for sock in socks:
                sock.close()
            raise

    def fileno(self) -> int:
        """The socket's file descriptor (for select)."""
        return int(self.sock.fileno())

    def send(self, payload: bytes, opcode: int = BINARY) -> None:
        """Send one complete message."""
        if self.close_sent:
            return
        self.sock.sendall(encode_frame(opcode, payload))

    def send_text(self, text: str) -> None:
        """Send a text message (an empty one is Incus's end-of-stream barrier)."""
        self.send(text.encode("utf-8"), TEXT)

    def send_close(self, code: int = 1000, reason: str = "") -> None:
        """Start (or answer) the closing handshake."""
        if self.close_sent:
            return
        try:
            self.sock.sendall(encode_frame(CLOSE, code.to_bytes(2, "big") + reason.encode("utf-8")))
        except OSError:
            pass
        self.close_sent = True

    def _drain(self) -> None:
        for fin, opcode, payload in decode_frames(self.buf):
            message = self._handle(fin, opcode, payload)
            if message is not None:
                self._ready.append(message)

    def pending(self) -> list[tuple[int, bytes]]:
        """Messages already buffered, without reading the socket."""
        self._drain()
        messages, self._ready = self._ready, []
        return messages

    def _read(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except OSError as exc:
            raise ClientError(0, f"websocket read failed: {exc}") from None
        if not data:
            self.closed = True
            return False
        self.buf += data
        pending = getattr(self.sock, "pending", None)  # TLS: decrypted bytes select() cannot see
        while pending is not None and pending() > 0:
            self.buf += self.sock.recv(pending())
        return True

    def poll(self) -> list[tuple[int, bytes]] | None:
        """Read once (blocking); return complete messages, or None at end of stream."""
        if not self._read():
            return None
        return self.pending()

    def recv(self) -> tuple[int, bytes] | None:
        """Block until one message (or None at end of stream)."""
        while True:
            self._drain()
            if self._ready:
                return self._ready.pop(0)
            if self.closed or not self._read():
                return None

    def _handle(self, fin: bool, opcode: int, payload: bytes) -> tuple[int, bytes] | None:
        if opcode == PING:
            if not self.close_sent:
                try:
                    self.sock.sendall(encode_frame(PONG, payload))
                except OSError:  # the peer already went away; reading will see the end
                    pass
            return None
        if opcode == PONG:
            return None
        if opcode == CLOSE:
            self.send_close(int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1000)
            self.closed = True
            return CLOSE, payload
        if opcode == CONT:
            self._partial.append(payload)
        else:
            self._partial = [payload]
            self._partial_op = opcode
        if not fin:
            return None
        message = b"".join(self._partial)
        self._partial = []
        return self._partial_op, message

    def close(self) -> None:
        """Send a close frame if needed and close the socket."""
        self.send_close()
        try:
            self.sock.close()
        except OSError:
            pass
