"""HTTPS listener, trust store and add tokens, over real TLS against the in-process daemon."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pincus.api.certificates import TOKENS, start_network, stop_network
from pincus.api.https import HTTPS
from pincus.base import tls
from pincus.db.trust import TrustStore


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Peer:
    """An HTTPS client with its own client certificate."""

    port: int
    ctx: ssl.SSLContext
    der: bytes

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.der).hexdigest()

    async def call(self, method: str, path: str, body: Any = None, port: int = 0) -> tuple[int, Any, Any]:
        conn = aiohttp.TCPConnector(ssl=self.ctx)
        async with aiohttp.ClientSession(connector=conn) as session:
            async with session.request(method, f"https://127.0.0.1:{port or self.port}{path}", json=body) as resp:
                return resp.status, resp.headers.copy(), await resp.json()


def make_peer(tmp_path: Path, port: int, name: str = "peer", cert: bool = True) -> Peer:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    der = b""
    if cert:
        crt, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
        tls.write_pair(crt, key, client=True)
        ctx.load_cert_chain(str(crt), str(key))
        der = tls.pem_to_der(crt.read_text())
    return Peer(port, ctx, der)


@pytest.fixture
async def https(api, tmp_path: Path) -> AsyncIterator[int]:
    """The api daemon listening on HTTPS (core.https_address set through the API); yields the port."""
    api.client.server.app[HTTPS].attach(api.client.server.runner)
    port = free_port()
    await api.ok("PATCH", "/1.0", {"config": {"core.https_address": f"127.0.0.1:{port}"}})
    yield port
    await api.client.server.app[HTTPS].close()


async def _token(api, name: str = "client1") -> str:
    status, data = await api.call("POST", "/1.0/certificates", {"name": name, "type": "client", "token": True},
                                  wait=False)
    assert status == 202, data
    meta = data["metadata"]
    assert meta["class"] == "token" and meta["status"] == "Running" and meta["may_cancel"] is True
    inner = meta["metadata"]
    return tls.AddToken(inner["request"]["name"], inner["fingerprint"], inner["addresses"],
                        inner["secret"], inner.get("expiresAt", tls.ZERO_TIME)).encode()


async def test_server_certificate_is_reported_and_matches_the_listener(api, https):
    info = await api.ok("GET", "/1.0")
    env = info["environment"]
    assert env["certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert env["certificate_fingerprint"] == tls.fingerprint(env["certificate"])
    assert env["addresses"] == [f"127.0.0.1:{https}"] and info["auth_user_method"] == "unix"
    loop = asyncio.get_running_loop()  # a blocking client: the server runs on this loop
    pem = await loop.run_in_executor(None, ssl.get_server_certificate, ("127.0.0.1", https))
    assert tls.fingerprint(pem) == env["certificate_fingerprint"]
    common_name, _, _ = tls.describe(env["certificate"])
    assert common_name.endswith("@" + socket.gethostname())


async def test_untrusted_client_sees_only_the_untrusted_server_object(api, https, tmp_path):
    await api.create("secret-c1")
    peer = make_peer(tmp_path, https)
    status, headers, data = await peer.call("GET", "/1.0")
    assert status == 200 and "ETag" not in headers
    assert set(data["metadata"]) == {"config", "api_extensions", "api_status", "api_version", "auth", "public",
                                     "auth_methods"}
    assert data["metadata"]["auth"] == "untrusted"
    for path in ("/1.0/instances", "/1.0/instances?recursion=2", "/1.0/instances/secret-c1", "/1.0/operations",
                 "/1.0/certificates", "/1.0/storage-pools", "/1.0/profiles", "/1.0/images", "/1.0/projects"):
        status, _, data = await peer.call("GET", path)
        assert status == 403 and data["error"] == "not authorized", path
        assert "secret-c1" not in str(data)
    status, _, data = await peer.call("GET", "/1.0/nothing-here")
    assert status == 404
    status, _, data = await peer.call("GET", "/1.0/operations/nope/websocket?secret=x")  # secret-checked
    assert (status, data["error"]) == (404, "Operation not found")
    status, _, data = await peer.call("POST", "/1.0/certificates", {"trust_token": "garbage"})
    assert status == 403 and data["error"] == "not authorized"
    status, _, data = await peer.call("POST", "/1.0/certificates", {"name": "x", "type": "client", "token": True})
    assert status == 403


async def test_token_flow_trusts_the_presented_certificate_once(api, https, tmp_path):
    token = await _token(api)
    assert tls.decode_token(token).addresses == [f"127.0.0.1:{https}"]
    peer = make_peer(tmp_path, https)
    body = {"name": "", "type": "", "restricted": False, "projects": None, "certificate": "",
            "description": "", "trust_token": token, "token": False}
    status, headers, data = await peer.call("POST", "/1.0/certificates", body)
    assert status == 201 and data["metadata"] is None
    assert headers["Location"] == f"/1.0/certificates/{peer.fingerprint}"
    status, headers, data = await peer.call("GET", "/1.0")
    assert data["metadata"]["auth"] == "trusted" and "ETag" in headers
    assert data["metadata"]["auth_user_name"] == peer.fingerprint and data["metadata"]["auth_user_method"] == "tls"
    certs = await api.ok("GET", "/1.0/certificates?recursion=1")
    assert [(c["name"], c["type"], c["fingerprint"]) for c in certs] == [("client1", "client", peer.fingerprint)]
    other = make_peer(tmp_path, https, "other")
    status, _, data = await other.call("POST", "/1.0/certificates", {"trust_token": token})
    assert status == 403 and data["error"] == "No matching certificate add operation found"
    ops = await api.ok("GET", "/1.0/operations?recursion=1")
    assert "running" not in ops and ops["cancelled"][0]["class"] == "token"


async def test_expired_and_revoked_tokens_are_refused(api, https, tmp_path):
    await api.ok("PATCH", "/1.0", {"config": {"core.remote_token_expiry": "1H"}})
    token = await _token(api, "late")
    assert tls.decode_token(token).expires_at != tls.ZERO_TIME
    api.clock.advance(hours=2)
    peer = make_peer(tmp_path, https)
    status, _, data = await peer.call("POST", "/1.0/certificates", {"trust_token": token})
    assert status == 403 and data["error"] == "Token has expired"
    token = await _token(api, "revoked")
    running = (await api.ok("GET", "/1.0/operations?recursion=1"))["running"]
    await api.ok("DELETE", f"/1.0/operations/{running[0]['id']}")
    status, _, data = await peer.call("POST", "/1.0/certificates", {"password": token})
    assert status == 403 and await api.ok("GET", "/1.0/certificates") == []


async def test_token_needs_a_network_listener_and_the_client_type(api):
    status, data = await api.call("POST", "/1.0/certificates", {"name": "a", "type": "client", "token": True})
    assert status == 400 and data["error"] == "Can't issue token when server isn't listening on network"
    status, data = await api.call("POST", "/1.0/certificates", {"name": "a", "token": True})
    assert status == 400 and data["error"] == "Tokens can only be issued for client certificates"
    status, data = await api.call("POST", "/1.0/certificates", {})
    assert status == 400 and data["error"] == "Client is already trusted"


async def test_listener_moves_and_stops_live(api, https, tmp_path):
    peer = make_peer(tmp_path, https)
    await api.call("POST", "/1.0/certificates", {"name": "p", "certificate": base64.b64encode(peer.der).decode()})
    moved = free_port()
    status, _, _ = await peer.call("PATCH", "/1.0", {"config": {"core.https_address": f"127.0.0.1:{moved}"}})
    assert status == 200  # the request that moves the listener still gets its answer
    assert (await peer.call("GET", "/1.0", port=moved))[0] == 200
    with pytest.raises(aiohttp.ClientConnectorError):
        await peer.call("GET", "/1.0", port=https)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        status, data = await api.call("PATCH", "/1.0", {"config": {"core.https_address": f"127.0.0.1:{taken}"}})
        assert status == 400 and data["error"].startswith(f'Cannot listen on network HTTPS socket "127.0.0.1:{taken}"')
    assert (await api.ok("GET", "/1.0"))["config"]["core.https_address"] == f"127.0.0.1:{moved}"
    assert (await peer.call("GET", "/1.0", port=moved))[0] == 200
    await api.ok("PUT", "/1.0", {"config": {}})
    with pytest.raises(aiohttp.ClientConnectorError):
        await peer.call("GET", "/1.0", port=moved)


async def test_certificate_crud_by_fingerprint_prefix(api, https, tmp_path):
    peer = make_peer(tmp_path, https)
    body = {"name": "bob", "type": "client", "certificate": base64.b64encode(peer.der).decode()}
    status, _ = await api.call("POST", "/1.0/certificates", body)
    assert status == 201
    status, data = await api.call("POST", "/1.0/certificates", body)
    assert status == 409 and data["error"] == "Certificate already in trust store"
    assert await api.ok("GET", "/1.0/certificates") == [f"/1.0/certificates/{peer.fingerprint}"]
    cert = await api.ok("GET", f"/1.0/certificates/{peer.fingerprint[:12]}")
    assert cert["name"] == "bob" and cert["projects"] == [] and cert["restricted"] is False
    await api.ok("PATCH", f"/1.0/certificates/{peer.fingerprint[:8]}", {"description": "laptop"})
    cert = await api.ok("GET", f"/1.0/certificates/{peer.fingerprint}")
    assert cert["name"] == "bob" and cert["description"] == "laptop"
    assert (await peer.call("GET", "/1.0/instances"))[0] == 200
    await api.ok("DELETE", f"/1.0/certificates/{peer.fingerprint[:12]}")
    assert (await peer.call("GET", "/1.0/instances"))[0] == 403


async def test_restricted_certificate_keeps_to_its_projects(api, https, tmp_path):
    peer = make_peer(tmp_path, https)
    der64 = base64.b64encode(peer.der).decode()
    await api.call("POST", "/1.0/certificates", {"name": "r", "type": "client", "certificate": der64,
                                                 "restricted": True, "projects": ["other"]})
    assert (await peer.call("GET", "/1.0/instances"))[0] == 403
    assert (await peer.call("GET", "/1.0"))[2]["metadata"]["auth"] == "trusted"
    await api.ok("PATCH", f"/1.0/certificates/{peer.fingerprint}", {"projects": ["default"]})
    assert (await peer.call("GET", "/1.0/instances"))[0] == 200
    assert (await peer.call("PATCH", "/1.0", {"config": {"core.https_address": ""}}))[0] == 403
    assert (await peer.call("DELETE", f"/1.0/certificates/{peer.fingerprint}"))[0] == 403


async def test_client_without_certificate_cannot_join(api, https, tmp_path):
    token = await _token(api)
    peer = make_peer(tmp_path, https, cert=False)
    status, _, data = await peer.call("POST", "/1.0/certificates", {"trust_token": token})
    assert status == 400 and data["error"] == "No client certificate provided"


async def test_pending_tokens_and_listener_survive_a_restart(api, https, tmp_path):
    token = await _token(api, "later")
    app, runner = api.client.server.app, api.client.server.runner
    await stop_network(app)  # daemon stop: the token operation ends, the token is kept
    assert [t.name for t in TrustStore(api.services.st.store).tokens()] == ["later"]
    app[TOKENS].closing = False
    await start_network(app, api.services, runner)  # daemon start: listener and token come back
    assert [op["class"] for op in (await api.ok("GET", "/1.0/operations?recursion=1"))["running"]] == ["token"]
    peer = make_peer(tmp_path, https)
    status, _, _ = await peer.call("POST", "/1.0/certificates", {"trust_token": token})
    assert status == 201


async def test_certificate_can_be_replaced_by_put(api, tmp_path):
    old, new = make_peer(tmp_path, 0, "old"), make_peer(tmp_path, 0, "new")
    await api.call("POST", "/1.0/certificates", {"name": "x", "certificate": base64.b64encode(old.der).decode()})
    cert = await api.ok("GET", f"/1.0/certificates/{old.fingerprint}")
    status, data = await api.call("PUT", f"/1.0/certificates/{old.fingerprint}", {**cert, "certificate": "junk"})
    assert (status, data["error"]) == (400, "Invalid PEM encoded certificate")
    await api.ok("PUT", f"/1.0/certificates/{old.fingerprint}", {**cert, "certificate": tls.der_to_pem(new.der)})
    assert await api.ok("GET", "/1.0/certificates") == [f"/1.0/certificates/{new.fingerprint}"]
