"""Project-restricted certificates over real HTTPS against a real pincusd: ?project=foo and
all-projects=true do not get past the restriction (pincus has only the default project), unknown
projects are 404, and a restricted certificate never sees a pending certificate add token."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from pincus.base import tls
from tests.support.pincusd import Pincusd, start_pincusd

pytestmark = pytest.mark.integration

QUERIES = ["", "project=default", "project=foo", "project=nope", "all-projects=true"]


@dataclass
class Setup:
    daemon: Pincusd
    port: int
    instance: str
    certs: dict[str, ssl.SSLContext]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    if os.geteuid() != 0 or not shutil.which("lxc-start"):
        pytest.skip("needs root and liblxc")
    tmp = tmp_path_factory.mktemp("certs")
    daemon = start_pincusd()
    try:
        daemon.init_pool("dir")
        daemon.import_busybox()
        port, instance = _free_port(), f"restricted-{secrets.token_hex(3)}"
        daemon.run("config", "set", "core.https_address", f"127.0.0.1:{port}")
        daemon.run("launch", "busybox", instance)
        certs = {}
        for who, extra in (("admin", []), ("rdef", ["--restricted", "--projects", "default"]),
                           ("rfoo", ["--restricted", "--projects", "foo"])):
            crt, key = tmp / f"{who}.crt", tmp / f"{who}.key"
            tls.write_pair(crt, key, client=True)
            daemon.run("config", "trust", "add-certificate", str(crt), "--name", who, *extra)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            ctx.load_cert_chain(str(crt), str(key))
            certs[who] = ctx
        yield Setup(daemon, port, instance, certs)
    finally:
        daemon.stop()
        daemon.log.unlink(missing_ok=True)


async def _call(s: Setup, who: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=s.certs[who])) as session:
        if path.startswith("/1.0/events"):
            try:
                async with session.ws_connect(f"https://127.0.0.1:{s.port}{path}"):
                    return 101, None
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status, None
        async with session.request(method, f"https://127.0.0.1:{s.port}{path}", json=body) as resp:
            return resp.status, await resp.json()


def _with(path: str, query: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}{query}" if query else path


def _answers(s: Setup, who: str, method: str, path: str, body: Any = None) -> tuple[str, list[Any]]:
    async def run() -> tuple[str, list[Any]]:
        got, data = [], []
        for i, q in enumerate(QUERIES):
            each = {**body, "name": f"{body['name']}-{i}"} if body else None  # snapshot names must differ
            status, reply = await _call(s, who, method, _with(path, q), each)
            got.append(str(status))
            data.append(reply)
        return " ".join(got), data

    return asyncio.run(run())


def test_restricted_certificates_keep_to_their_projects(setup: Setup) -> None:
    inst = setup.instance
    expected = {  # (method, path): {cert: statuses for QUERIES}
        ("GET", "/1.0/instances"): {"admin": "200 200 404 404 200", "rdef": "200 200 403 403 200",
                                    "rfoo": "403 403 404 403 200"},
        ("GET", f"/1.0/instances/{inst}"): {"admin": "200 200 404 404 200", "rdef": "200 200 403 403 403",
                                            "rfoo": "403 403 404 403 403"},
        ("POST", f"/1.0/instances/{inst}/snapshots"): {"admin": "202 202 404 404 202", "rdef": "202 202 403 403 403",
                                                       "rfoo": "403 403 404 403 403"},
        ("GET", "/1.0/operations"): {"admin": "200 200 404 404 200", "rdef": "200 200 403 403 200",
                                     "rfoo": "403 403 404 403 200"},
        ("GET", "/1.0/events"): {"admin": "101 101 404 404 101", "rdef": "101 101 403 403 101",
                                 "rfoo": "403 403 404 403 101"},
    }  # fmt: skip
    failures, started = [], []
    for (method, path), by_cert in expected.items():
        for who, want in by_cert.items():
            body = {"name": f"s-{who}-{secrets.token_hex(2)}"} if method == "POST" else None
            got, replies = _answers(setup, who, method, path, body)
            if got != want:
                failures.append(f"{who} {method} {path}: {got} != {want}")
            for status, reply in zip(got.split(), replies, strict=True):
                if status == "202":
                    started.append(reply["operation"])
                if status in ("403", "404") and reply is not None:
                    assert inst not in json.dumps(reply), (who, path)
            if path == "/1.0/instances" and who == "rfoo":
                assert replies[4]["metadata"] == []  # all-projects: only its (absent) project's instances
    assert not failures, "\n".join(failures)
    _, data = asyncio.run(_call(setup, "rdef", "GET", "/1.0/instances?project=foo"))
    assert data["error"] == 'User does not have permissions for project "foo"'
    _, data = asyncio.run(_call(setup, "admin", "GET", f"/1.0/instances/{inst}?project=nope"))
    assert data["error"] == "Project not found"
    for op in started:
        assert setup.daemon.api("GET", f"{op}/wait?timeout=-1")[1]["metadata"]["status"] == "Success"
    snapshots = setup.daemon.api("GET", f"/1.0/instances/{inst}/snapshots")[1]["metadata"]
    assert sorted(s.rsplit("/", 1)[-1].split("-")[1] for s in snapshots) == ["admin"] * 3 + ["rdef"] * 2


def test_restricted_certificates_never_see_a_pending_token(setup: Setup) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=setup.certs["rdef"])) as session:
            async with session.ws_connect(f"https://127.0.0.1:{setup.port}/1.0/events?type=operation") as ws:
                token = await asyncio.to_thread(setup.daemon.run, "config", "trust", "add", "pending-x")
                secret = tls.decode_token(token.stdout.splitlines()[-1]).secret
                # An event the restricted listener must see, after the token's: proves the stream works.
                await asyncio.to_thread(setup.daemon.run, "snapshot", "create", setup.instance, "after-token")
                seen = []
                while not any("after-token" in m for m in seen):
                    seen.append((await ws.receive(timeout=60)).data)
                assert not any(secret in m or '"token"' in m for m in seen)
        status, ops = await _call(setup, "rdef", "GET", "/1.0/operations?recursion=1")
        assert status == 200 and secret not in json.dumps(ops)
        assert all(op["class"] != "token" for group in ops["metadata"].values() for op in group)
        status, ops = await _call(setup, "admin", "GET", "/1.0/operations?recursion=1")
        token_op = next(op for op in ops["metadata"]["running"] if op["class"] == "token")
        assert token_op["metadata"]["secret"] == secret  # the admin (and the issuer) see it, as in Incus
        status, reply = await _call(setup, "rdef", "GET", f"/1.0/operations/{token_op['id']}")
        assert (status, reply["error"]) == (403, "Certificate is restricted")
        assert (await _call(setup, "rdef", "DELETE", f"/1.0/operations/{token_op['id']}"))[0] == 403

    asyncio.run(run())
