"""Client certificates on HTTPS: the ctypes trick works on this Python, and when it cannot be
applied the daemon still serves HTTPS with every client untrusted (fail closed)."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from pathlib import Path

import pytest

from pincus.api import https as https_mod
from pincus.api.https import server_context
from pincus.api.tls_accept_any import accept_any_client_certificate
from pincus.base import tls
from pincus.db.trust import CertificateRecord, TrustStore
from tests.unit.api import test_certificates as certs

https = certs.https  # the in-process daemon listening on HTTPS (a fixture)
make_peer = certs.make_peer


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> bytes | None:
    """Complete one TLS handshake over a socket pair; return the client certificate the server saw."""
    left, right = socket.socketpair()
    seen: list[bytes | None] = []

    def serve() -> None:
        with server.wrap_socket(left, server_side=True) as tls_sock:
            seen.append(tls_sock.getpeercert(binary_form=True))
            tls_sock.sendall(b"k")

    thread = threading.Thread(target=serve)
    thread.start()
    with client.wrap_socket(right) as tls_sock:
        assert tls_sock.recv(1) == b"k"
    thread.join()
    return seen[0]


def _contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext, bytes]:
    tls.write_pair(tmp_path / "server.crt", tmp_path / "server.key", client=False)
    server = server_context(tmp_path / "server.crt", tmp_path / "server.key")
    peer = make_peer(tmp_path, 0)
    return server, peer.ctx, peer.der


def test_the_trick_applies_on_this_python() -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    assert accept_any_client_certificate(ctx) is True
    assert ctx.verify_mode == ssl.CERT_OPTIONAL


def test_a_self_signed_client_certificate_completes_the_handshake_and_is_seen(tmp_path: Path) -> None:
    server, client, der = _contexts(tmp_path)
    assert _handshake(server, client) == der


def test_a_client_without_certificate_still_connects(tmp_path: Path) -> None:
    server, _, _ = _contexts(tmp_path)
    bare = make_peer(tmp_path, 0, cert=False).ctx
    assert _handshake(server, bare) is None


def _break_trick(monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    def failing(ctx: ssl.SSLContext) -> bool:
        ctx.verify_mode = ssl.CERT_OPTIONAL  # as far as the real one gets before it gives up
        if how == "raise":
            raise ValueError("ctypes surprise")
        return False

    monkeypatch.setattr(https_mod, "accept_any_client_certificate", failing)


@pytest.mark.parametrize("how", ["false", "raise"])
def test_without_the_trick_no_client_certificate_is_asked_for(tmp_path, monkeypatch, caplog, how) -> None:
    _break_trick(monkeypatch, how)
    with caplog.at_level(logging.WARNING, logger="pincus.api.https"):
        server, client, _ = _contexts(tmp_path)
    assert server.verify_mode == ssl.CERT_NONE
    assert _handshake(server, client) is None  # the self-signed certificate neither fails nor counts
    assert "every HTTPS client is untrusted" in caplog.text


@pytest.fixture(params=["false", "raise"])
def broken_trick(request, monkeypatch: pytest.MonkeyPatch) -> None:
    _break_trick(monkeypatch, request.param)


@pytest.mark.usefixtures("broken_trick")
async def test_without_the_trick_the_daemon_serves_https_and_trusts_nobody(api, https, tmp_path):
    peer = make_peer(tmp_path, https)
    pem = tls.der_to_pem(peer.der)
    TrustStore(api.services.st.store).add(CertificateRecord(peer.fingerprint, "peer", pem))
    status, _, data = await peer.call("GET", "/1.0")
    assert status == 200 and data["metadata"]["auth"] == "untrusted"  # its fingerprint is trusted, unseen
    status, _, data = await peer.call("GET", "/1.0/instances")
    assert status == 403 and data["error"] == "not authorized"
    stranger = make_peer(tmp_path, https, name="stranger")
    assert (await stranger.call("GET", "/1.0"))[2]["metadata"]["auth"] == "untrusted"


async def test_with_the_trick_trust_is_decided_by_fingerprint(api, https, tmp_path):
    peer = make_peer(tmp_path, https)
    TrustStore(api.services.st.store).add(CertificateRecord(peer.fingerprint, "peer", tls.der_to_pem(peer.der)))
    assert (await peer.call("GET", "/1.0"))[2]["metadata"]["auth"] == "trusted"
    stranger = make_peer(tmp_path, https, name="stranger")
    status, _, data = await stranger.call("GET", "/1.0/instances")
    assert status == 403 and data["error"] == "not authorized"
