"""A minimal RFC 6455 websocket client over the daemon socket (exec and console streams)."""

from __future__ import annotations

import binascii
import os
import struct

from pincus.client.connection import ClientError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pincus.client.connection import Connection

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value a server must answer for ``key``."""
    import hashlib

    digest = hashlib.sha1(key.encode("ascii") + _GUID).digest()
    return binascii.b2a_base64(digest, newline=False).decode("ascii")


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
        head += struct.pack("!H", size)
    else:
        head.append(bit | 127)
        head += struct.pack("!Q", size)
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
            size = struct.unpack_from("!H", buf, 2)[0]
            pos = 4
        elif size == 127:
            if len(buf) < 10:
                break
            size = struct.unpack_from("!Q", buf, 2)[0]
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
        key = binascii.b2a_base64(os.urandom(16), newline=False).decode("ascii")
        headers = {
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Key": key,
            "Sec-WebSocket-Version": "13",
        }
        sock, rest = conn.upgrade(path, headers)
        return cls(sock, rest)

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
            self.sock.sendall(encode_frame(CLOSE, struct.pack("!H", code) + reason.encode("utf-8")))
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
            self.send_close(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1000)
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
