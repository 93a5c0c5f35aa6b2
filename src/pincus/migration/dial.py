"""Connecting to a peer daemon's migration websocket over HTTPS.

The peer's certificate is pinned in the TLS handshake (it is the only trust anchor), before the
secret leaves in the upgrade request; this daemon presents its own server certificate as client
certificate, as Incus does.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from urllib.parse import quote, urlsplit

import aiohttp

from pincus.base.errors import InvalidArgument
from pincus.migration.wire import TransferError

CONNECT_TIMEOUT = 30.0


def websocket_url(operation: str, secret: str) -> str:
    """``https://host:port/1.0/operations/ID`` -> its websocket URL with the secret."""
    parts = urlsplit(operation)
    if parts.scheme != "https" or not parts.netloc or not parts.path.startswith("/1.0/operations/"):
        raise InvalidArgument(f'Invalid migration operation URL "{operation}"')
    return f"wss://{parts.netloc}{parts.path.rstrip('/')}/websocket?secret={quote(secret, safe='')}"


def pinned_context(root: Path, peer_pem: str) -> ssl.SSLContext:
    """TLS client context: our server certificate, and only ``peer_pem`` trusted."""
    if not peer_pem.strip():
        raise InvalidArgument("The migration peer's certificate is required")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    try:
        ctx.load_verify_locations(cadata=peer_pem)
    except (ssl.SSLError, ValueError):
        raise InvalidArgument("Invalid migration peer certificate") from None
    ctx.load_cert_chain(root / "server.crt", root / "server.key")
    return ctx


class Dialer:
    """One outgoing websocket (and its HTTP session) to a peer's operation."""

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None

    async def connect(self, ctx: ssl.SSLContext, operation: str, secret: str) -> aiohttp.ClientWebSocketResponse:
        """Open the websocket; errors name the peer."""
        url = websocket_url(operation, secret)
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT))
        try:
            return await self.session.ws_connect(url, ssl=ctx, max_msg_size=0, heartbeat=30, autoping=True)
        except aiohttp.ClientConnectorCertificateError:
            raise TransferError(f"Certificate of the migration peer at {urlsplit(url).netloc} does not match") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TransferError(f"Failed to connect to the migration peer at {urlsplit(url).netloc}: {exc}") from None

    async def close(self) -> None:
        """Close the session."""
        if self.session is not None:
            await self.session.close()
