"""HTTPS connections to Incus-compatible servers, made as the incus client makes them.

The client presents ``client.crt`` from the configuration directory (generated on first use),
and the server must present exactly the certificate pinned in ``servercerts/<remote>.crt``
(without one, the system CAs and the host name are checked). Only imported when a remote is
reached over HTTPS, so ``ssl`` costs nothing to unix-socket commands.
"""

from __future__ import annotations

import os
import socket
import ssl

from pincus.client.connection import ClientError, Connection

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_PORT = 8443
CONNECT_TIMEOUT = 30.0


def split_url(addr: str) -> tuple[str, int]:
    """``https://host[:port]`` to (host, port); IPv6 hosts come without brackets."""
    rest = addr.split("://", 1)[1] if "://" in addr else addr
    rest = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else ""
    elif rest.count(":") == 1:
        host, _, port = rest.partition(":")
    else:
        host, port = rest, ""
    if port and not port.isdigit():
        raise ClientError(0, f'Invalid port "{port}" in "{addr}"')
    return host, int(port) if port else DEFAULT_PORT


def join_host_port(host: str, port: int) -> str:
    """Go's net.JoinHostPort."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def client_cert_paths(conf_dir: str) -> tuple[str, str]:
    """Where the client certificate and key live."""
    return os.path.join(conf_dir, "client.crt"), os.path.join(conf_dir, "client.key")


def server_cert_path(conf_dir: str, remote: str) -> str:
    """Where a remote's pinned server certificate lives."""
    return os.path.join(conf_dir, "servercerts", f"{remote}.crt")


def has_client_certificate(conf_dir: str) -> bool:
    """True when client.crt and client.key both exist."""
    return all(os.path.exists(p) for p in client_cert_paths(conf_dir))


def generate_client_certificate(conf_dir: str) -> None:
    """Create client.crt/client.key (ECDSA P-384, like ``incus remote generate-certificate``)."""
    from pathlib import Path

    from pincus.base.tls import write_pair

    os.makedirs(conf_dir, mode=0o750, exist_ok=True)
    cert, key = client_cert_paths(conf_dir)
    write_pair(Path(cert), Path(key), client=True)


def _dial(host: str, port: int) -> socket.socket:
    target = join_host_port(host, port)
    try:
        sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    except socket.gaierror as exc:
        raise ClientError(0, f"dial tcp: lookup {host}: {exc.strerror}") from None
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise ClientError(0, f"dial tcp {target}: connect: {reason}") from None
    sock.settimeout(None)
    return sock


def fetch_certificate(addr: str) -> bytes:
    """The DER certificate a server presents (no verification: the caller shows or compares it)."""
    host, port = split_url(addr)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    sock = _dial(host, port)
    try:
        with ctx.wrap_socket(sock, server_hostname=host) as tls:
            return tls.getpeercert(binary_form=True) or b""
    except (ssl.SSLError, OSError) as exc:
        raise ClientError(0, f"Unable to connect to: {join_host_port(host, port)} ([{exc}])") from None
    finally:
        sock.close()


class TlsConnection(Connection):
    """A Connection over TLS to one HTTPS remote."""

    def __init__(self, addr: str, conf_dir: str, remote: str, project: str = "") -> None:
        super().__init__(addr, project)
        self.addr = addr
        self.hostname, self.port = split_url(addr)
        self.host = join_host_port(self.hostname, self.port)
        self.conf_dir = conf_dir
        self.pinned_path = server_cert_path(conf_dir, remote)
        self._ctx: ssl.SSLContext | None = None
        self._pinned: bytes | None = None

    def _context(self) -> ssl.SSLContext:
        if self._ctx is not None:
            return self._ctx
        if os.path.exists(self.pinned_path):
            with open(self.pinned_path, encoding="ascii") as fobj:
                try:
                    self._pinned = ssl.PEM_cert_to_DER_cert(fobj.read().strip())
                except ValueError:
                    raise ClientError(0, f"Invalid server certificate in {self.pinned_path}") from None
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # pinned: compared after the handshake
        else:
            ctx = ssl.create_default_context()
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if has_client_certificate(self.conf_dir):
            ctx.load_cert_chain(*client_cert_paths(self.conf_dir))
        self._ctx = ctx
        return ctx

    def _connect(self) -> Any:
        ctx = self._context()
        sock = _dial(self.hostname, self.port)
        sock.settimeout(self.timeout)
        try:
            tls = ctx.wrap_socket(sock, server_hostname=self.hostname)
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            raise ClientError(0, f"tls: failed to verify certificate: {exc.verify_message}") from None
        except (ssl.SSLError, OSError) as exc:
            sock.close()
            raise ClientError(0, f"Unable to connect to: {self.host} ([{exc}])") from None
        if self._pinned is not None and tls.getpeercert(binary_form=True) != self._pinned:
            tls.close()
            raise ClientError(0, "x509: certificate signed by unknown authority (the server's certificate "
                                 f"doesn't match {self.pinned_path})")
        return tls
