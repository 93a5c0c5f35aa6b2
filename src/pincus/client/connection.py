"""HTTP/1.1 to an Incus-compatible daemon over its unix socket, parsing the Incus envelopes.

A small hand-written HTTP client is used instead of ``http.client``: that module pulls in
``email`` and ``ssl`` at import time (~35 ms here), and the CLI is benchmarked on start-up.
Requests are one connection each with ``Connection: close``, exactly like the Go client does
over the unix socket.
"""

from __future__ import annotations

import _socket
import os

from pincus.client import codec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from typing import Any, BinaryIO

    Body = bytes | BinaryIO | Iterable[bytes] | None

USER_AGENT = "pincus/0.1.0"
DEFAULT_SOCKET = "/var/lib/pincus/unix.socket"
_CHUNK = 65536
_SAFE_PATH = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+=:@")
_SAFE_QUERY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class ClientError(Exception):
    """A failed request; ``message`` is the server's ``error`` text (or a local explanation)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return self.message


def socket_path(env: Mapping[str, str] | None = None) -> str:
    """Find the daemon socket: PINCUS_SOCKET, PINCUS_DIR, INCUS_SOCKET, INCUS_DIR, then the default."""
    env = os.environ if env is None else env
    if env.get("PINCUS_SOCKET"):
        return env["PINCUS_SOCKET"]
    if env.get("PINCUS_DIR"):
        return os.path.join(env["PINCUS_DIR"], "unix.socket")
    if env.get("INCUS_SOCKET"):
        return env["INCUS_SOCKET"]
    if env.get("INCUS_DIR"):
        return os.path.join(env["INCUS_DIR"], "unix.socket")
    return DEFAULT_SOCKET


def quote_path(segment: str) -> str:
    """Escape one URL path segment like Go's url.PathEscape."""
    return _escape(segment, _SAFE_PATH, space="%20")


def quote_query(value: str) -> str:
    """Escape one query value like Go's url.QueryEscape."""
    return _escape(value, _SAFE_QUERY, space="+")


def _escape(text: str, safe: frozenset[str], space: str) -> str:
    if all(ch in safe for ch in text):
        return text
    out = []
    for ch in text:
        if ch in safe:
            out.append(ch)
        elif ch == " ":
            out.append(space)
        else:
            out.extend(f"%{byte:02X}" for byte in ch.encode("utf-8"))
    return "".join(out)


def encode_query(params: Mapping[str, str]) -> str:
    """Encode query parameters sorted by key, like Go's url.Values.Encode."""
    return "&".join(f"{quote_query(k)}={quote_query(v)}" for k, v in sorted(params.items()))


class Response:
    """A fully read HTTP response with the decoded Incus envelope."""

    __slots__ = ("status", "headers", "body", "_doc")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self._doc: Any = None

    def json(self) -> Any:
        """The decoded JSON body."""
        if self._doc is None:
            self._doc = codec.loads(self.body) if self.body else {}
        return self._doc

    @property
    def metadata(self) -> Any:
        """The envelope's ``metadata`` field."""
        doc = self.json()
        return doc.get("metadata") if isinstance(doc, dict) else None

    @property
    def etag(self) -> str:
        """The ETag header, or an empty string."""
        return self.headers.get("etag", "")

    @property
    def is_async(self) -> bool:
        """True for an async (operation) envelope."""
        doc = self.json()
        return isinstance(doc, dict) and doc.get("type") == "async"


class _Reader:
    """Buffered reads from a socket (status line, headers, body framings)."""

    def __init__(self, sock: Any, initial: bytes = b"") -> None:
        self.sock = sock
        self.buf = bytearray(initial)
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        data = self.sock.recv(_CHUNK)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def readline(self) -> bytes:
        """Read through the next CRLF (or to EOF)."""
        while True:
            pos = self.buf.find(b"\n")
            if pos >= 0:
                line = bytes(self.buf[: pos + 1])
                del self.buf[: pos + 1]
                return line
            if not self._fill():
                line = bytes(self.buf)
                self.buf.clear()
                return line

    def read(self, size: int) -> bytes:
        """Read up to ``size`` bytes, fewer only at EOF."""
        while len(self.buf) < size and self._fill():
            pass
        data = bytes(self.buf[:size])
        del self.buf[:size]
        return data

    def read_some(self) -> bytes:
        """Return whatever is buffered, or one recv() worth."""
        if not self.buf:
            self._fill()
        data = bytes(self.buf)
        self.buf.clear()
        return data

    def iter_body(self, headers: Mapping[str, str]) -> Iterator[bytes]:
        """Yield the body according to its framing (chunked, length or until EOF)."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            yield from self._iter_chunked()
        elif "content-length" in headers:
            remaining = int(headers["content-length"])
            while remaining > 0:
                data = self.read(min(remaining, _CHUNK))
                if not data:
                    break
                remaining -= len(data)
                yield data
        else:
            while True:
                data = self.read_some()
                if not data:
                    break
                yield data

    def _iter_chunked(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return
            data = self.read(size)
            self.readline()
            yield data


class RawResponse:
    """A response whose body has not been read yet (file and image transfers)."""

    def __init__(self, status: int, headers: dict[str, str], reader: _Reader, sock: Any) -> None:
        self.status = status
        self.headers = headers
        self._reader = reader
        self._sock = sock

    def iter_body(self) -> Iterator[bytes]:
        """Stream the body, closing the connection at the end."""
        try:
            yield from self._reader.iter_body(self.headers)
        finally:
            self.close()

    def read(self) -> Response:
        """Read the whole body into a Response."""
        return Response(self.status, self.headers, b"".join(self.iter_body()))

    def close(self) -> None:
        """Close the underlying socket."""
        self._sock.close()


class Sent:
    """A request already sent on its own socket, its response not read yet."""

    def __init__(self, sock: Any, what: str) -> None:
        self._sock = sock
        self._what = what

    def open(self) -> RawResponse:
        """Wait for the status line and headers; the body stays unread."""
        reader = _Reader(self._sock)
        try:
            status, resp_headers = _read_head(reader)
        except OSError as exc:
            self._sock.close()
            raise ClientError(0, f"{self._what}: {exc.strerror or exc}") from None
        except BaseException:
            self._sock.close()
            raise
        return RawResponse(status, resp_headers, reader, self._sock)

    def read(self) -> Response:
        """The whole response; ClientError for an error envelope (like Connection.request)."""
        resp = self.open().read()
        check(resp)
        return resp

    def close(self) -> None:
        """Give up on the response."""
        self._sock.close()


class Connection:
    """One daemon endpoint; each request opens a fresh socket."""

    host = "unix.socket"  # the Host header (client/tls.py sends the server's address)

    def __init__(self, path: str | None = None, project: str = "") -> None:
        self.path = path or socket_path()
        self.project = project
        # Seconds any one socket operation may block (None: forever). ``admin waitready`` sets it,
        # so a daemon that accepts and never answers cannot hold the command past its timeout.
        self.timeout: float | None = None

    def _connect(self) -> Any:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except TimeoutError:
            sock.close()
            raise ClientError(0, f"Timed out connecting to the pincus daemon (socket path: {self.path})") from None
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            raise ClientError(
                0, f"The pincus daemon doesn't appear to be started (socket path: {self.path})"
            ) from None
        except PermissionError:
            sock.close()
            raise ClientError(
                0,
                f"You don't have the needed permissions to talk to the pincus daemon (socket path: {self.path})",
            ) from None
        return sock

    def url(self, path: str) -> str:
        """Add the project query parameter when a project is selected."""
        if not self.project or "project=" in path:
            return path
        sep = "&" if "?" in path else "?"
        return f"{path}{sep}project={quote_query(self.project)}"

    def open(
        self, method: str, path: str, body: Body = None, headers: Mapping[str, str] | None = None
    ) -> RawResponse:
        """Send a request and return the response with its body still unread."""
        return self.send(method, path, body, headers).open()

    def send(
        self, method: str, path: str, body: Body = None, headers: Mapping[str, str] | None = None
    ) -> Sent:
        """Send a request now and read its response later (Sent.open or Sent.read)."""
        sock = self._connect()
        try:
            head, payload = _request_head(method, self.url(path), body, headers or {}, host=self.host)
            if isinstance(payload, (bytes, bytearray)) and len(payload) <= _CHUNK:
                sock.sendall(head + payload)  # one write: the daemon reads the request in one go
            else:
                sock.sendall(head)
                _send_body(sock, payload)
        except OSError as exc:
            sock.close()
            raise ClientError(0, f"{method} {path}: {exc.strerror or exc}") from None
        except BaseException:
            sock.close()
            raise
        return Sent(sock, f"{method} {path}")

    def request(
        self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> Response:
        """Send a request (dict/list bodies are JSON-encoded) and raise ClientError on failure."""
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = codec.dumps(body).encode("utf-8")
            hdrs.setdefault("Content-Type", "application/json")
        resp = self.open(method, path, body, hdrs).read()
        check(resp)
        return resp

    def start_upgrade(self, path: str, headers: Mapping[str, str]) -> Any:
        """Connect and send an upgrade request without reading the answer (see finish_upgrade)."""
        sock = self._connect()
        try:
            head, _ = _request_head("GET", self.url(path), None, headers, close=False, host=self.host)
            sock.sendall(head)
        except BaseException:
            sock.close()
            raise
        return sock

    def finish_upgrade(self, sock: Any) -> tuple[Any, dict[str, str], bytes]:
        """Read the answer to start_upgrade(); return the socket, the answer's headers (lower-case
        names) and any bytes read past them. The socket is closed if the status is not 101."""
        try:
            reader = _Reader(sock)
            status, resp_headers = _read_head(reader)
            if status != 101:
                body = b"".join(reader.iter_body(resp_headers))
                check(Response(status, resp_headers, body))
                raise ClientError(status, f"Unexpected HTTP status {status} for websocket upgrade")
        except BaseException:
            sock.close()
            raise
        return sock, resp_headers, bytes(reader.buf)


def check(resp: Response) -> None:
    """Raise ClientError for an error envelope or an HTTP error status."""
    doc: Any = None
    if resp.status >= 400 or "json" in resp.headers.get("content-type", ""):
        try:
            doc = resp.json()
        except ValueError:
            doc = None
    is_error = isinstance(doc, dict) and doc.get("type") == "error"
    if not is_error and resp.status < 400:
        return
    message = str(doc.get("error") or "") if isinstance(doc, dict) else ""
    if not message:
        message = resp.body.decode("utf-8", "replace").strip() or f"HTTP {resp.status}"
    code = doc.get("error_code") if isinstance(doc, dict) else None
    raise ClientError(int(code or resp.status), message)


def _request_head(
    method: str, path: str, body: Body, headers: Mapping[str, str], close: bool = True, host: str = "unix.socket"
) -> tuple[bytes, Body]:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"User-Agent: {USER_AGENT}"]
    names = {k.lower() for k in headers}
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if isinstance(body, (bytes, bytearray)):
        lines.append(f"Content-Length: {len(body)}")
    elif body is not None and "content-length" not in names:
        lines.append("Transfer-Encoding: chunked")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), body


def _send_body(sock: Any, body: Body) -> None:
    if body is None:
        return
    if isinstance(body, (bytes, bytearray)):
        if body:
            sock.sendall(body)
        return
    chunks: Iterable[bytes]
    if hasattr(body, "read"):
        fobj = body

        def _read_chunks() -> Iterator[bytes]:
            while True:
                data = fobj.read(_CHUNK)  # type: ignore[union-attr]
                if not data:
                    return
                yield data

        chunks = _read_chunks()
    else:
        chunks = body  # type: ignore[assignment]
    for data in chunks:
        if data:
            sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))
    sock.sendall(b"0\r\n\r\n")


def _read_head(reader: _Reader) -> tuple[int, dict[str, str]]:
    line = reader.readline()
    if not line:
        raise ClientError(0, "The daemon closed the connection without answering")
    parts = line.decode("latin-1").split(None, 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        raise ClientError(0, f"Malformed HTTP status line: {line!r}") from None
    headers: dict[str, str] = {}
    while True:
        raw = reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers
