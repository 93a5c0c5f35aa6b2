"""The HTTPS listener of ``core.https_address``: started, moved and stopped live, like Incus's
network endpoint, with the server certificate of $PINCUS_DIR/server.crt."""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
from pathlib import Path

from aiohttp import web

from pincus.api.tls_accept_any import accept_any_client_certificate
from pincus.base import tls
from pincus.base.errors import InvalidArgument

log = logging.getLogger(__name__)
DEFAULT_PORT = 8443


def split_address(value: str) -> tuple[str, int]:
    """``host[:port]`` (IPv6 in brackets) as Incus reads core.https_address; the port defaults to 8443."""
    text = value.strip()
    bare = text.strip("[]")
    try:
        ipaddress.ip_address(bare)
        return bare, DEFAULT_PORT
    except ValueError:
        pass
    if ":" not in bare:
        return bare, DEFAULT_PORT
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or (":" in host and not host.startswith("[")):
        raise InvalidArgument(f'Invalid network address "{value}"')
    return host.strip("[]"), int(port)


def join_host_port(host: str, port: int) -> str:
    """Go's net.JoinHostPort."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _ipv4_addresses() -> list[str]:
    """The primary IPv4 address of every interface (SIOCGIFADDR)."""
    import fcntl
    import struct

    out = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            try:
                res = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue
            out.append(socket.inet_ntoa(res[20:24]))
    return out


def _host_addresses(ipv4_only: bool) -> list[str]:
    """Global unicast addresses configured on the host (Go's IsGlobalUnicast: private ranges count)."""
    found: list[str] = []
    candidates = _ipv4_addresses()
    try:
        with open("/proc/net/if_inet6", encoding="ascii") as fobj:
            for line in fobj:
                raw = line.split()[0]
                candidates.append(str(ipaddress.IPv6Address(bytes.fromhex(raw))))
    except OSError:
        pass
    for text in candidates:
        ip = ipaddress.ip_address(text)
        if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified:
            continue
        if ipv4_only and ip.version != 4:
            continue
        if text not in found:
            found.append(text)
    return found


def listen_addresses(value: str) -> list[str]:
    """The addresses clients can reach, as Incus's ListenAddresses reports them in GET /1.0."""
    if not value:
        return []
    host, port = split_address(value)
    if host in ("", "0.0.0.0", "::"):
        return [join_host_port(ip, port) for ip in _host_addresses(ipv4_only=host == "0.0.0.0")]
    return [join_host_port(host, port)]


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """TLS server context: our certificate, TLS >= 1.2, optional client certificates that auth.py judges."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    try:
        accepted = accept_any_client_certificate(ctx)
    except Exception:  # a ctypes surprise must not keep the daemon from serving
        log.exception("Failed setting up client certificates for HTTPS")
        accepted = False
    if not accepted:
        # Fail closed: without the trick the ssl module would refuse self-signed certificates, so
        # none is asked for and every HTTPS client is untrusted (the unix socket still works).
        log.error(
            "Cannot accept self-signed client certificates with this Python/OpenSSL: "
            "every HTTPS client is untrusted, use the unix socket"
        )
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class HttpsEndpoint:
    """The server certificate and the one HTTPS site bound to core.https_address."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.address = ""
        self.runner: web.BaseRunner | None = None
        self._site: web.TCPSite | None = None
        self._pem = ""
        self._ctx: ssl.SSLContext | None = None

    @property
    def certificate(self) -> str:
        """The server certificate (PEM), generated on first use."""
        if not self._pem:
            cert, _ = tls.ensure_server_pair(self.root)
            self._pem = cert.read_text(encoding="ascii")
        return self._pem

    @property
    def fingerprint(self) -> str:
        """sha256 of the server certificate's DER."""
        return tls.fingerprint(self.certificate)

    def addresses(self) -> list[str]:
        """Where the HTTPS API can be reached (GET /1.0 environment.addresses, token addresses)."""
        return listen_addresses(self.address)

    def attach(self, runner: web.BaseRunner) -> None:
        """Serve HTTPS sites through this (set up) runner."""
        self.runner = runner

    async def apply(self, address: str) -> None:
        """Listen on ``address`` (empty: stop listening); on failure keep the old listener."""
        if address:
            split_address(address)
        if address == self.address and (self._site is not None or not address or self.runner is None):
            return
        old_site, old_address = self._site, self.address
        if old_site is not None:
            await old_site.stop()
            self._site = None
        try:
            if address and self.runner is not None:
                self._site = await self._start(address)
        except InvalidArgument:
            if old_site is not None and self.runner is not None:
                self._site = await self._start(old_address)
            raise
        self.address = address

    async def _start(self, address: str) -> web.TCPSite:
        assert self.runner is not None
        if self._ctx is None:
            self.certificate  # noqa: B018 - make sure the pair exists
            self._ctx = server_context(self.root / "server.crt", self.root / "server.key")
        host, port = split_address(address)
        site = web.TCPSite(self.runner, host or None, port, ssl_context=self._ctx, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            raise InvalidArgument(
                f'Cannot listen on network HTTPS socket "{join_host_port(host, port)}": {exc.strerror or exc}'
            ) from None
        log.info("HTTPS API on %s", join_host_port(host, port))
        return site

    async def close(self) -> None:
        """Stop listening."""
        if self._site is not None:
            await self._site.stop()
            self._site = None


HTTPS: web.AppKey[HttpsEndpoint] = web.AppKey("https", HttpsEndpoint)
