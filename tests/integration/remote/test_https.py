"""HTTPS and trust, the Incus way, end to end: pincus and the stock incus client against pincusd,
and pincus against a private real incusd; untrusted clients get 403 and see nothing."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pincus.base import tls
from tests.support.incusd import incus_available, start_incusd
from tests.support.pincusd import VENV_BIN, Pincusd, busybox_image, start_pincusd

pytestmark = pytest.mark.integration


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def client_env(conf: Path) -> dict[str, str]:
    """A client environment that reaches servers only through the remotes of ``conf``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INCUS_", "PINCUS_"))}
    return {**env, "INCUS_CONF": str(conf), "PINCUS_CONF": str(conf)}


def pincus(conf: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The pincus CLI with its own configuration directory."""
    proc = subprocess.run([str(VENV_BIN / "pincus"), *args], env=client_env(conf), capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"pincus {' '.join(args)}: {proc.returncode} {proc.stderr}")
    return proc


def incus(conf: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The stock incus client with its own configuration directory."""
    proc = subprocess.run(["incus", *args], env=client_env(conf), capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"incus {' '.join(args)}: {proc.returncode} {proc.stderr}")
    return proc


class Server:
    """A private pincusd listening on HTTPS, with one running container."""

    def __init__(self, daemon: Pincusd, port: int, instance: str) -> None:
        self.daemon, self.port, self.instance = daemon, port, instance
        self.url = f"https://127.0.0.1:{port}"

    def token(self, name: str) -> str:
        """A certificate add token from ``pincus config trust add``."""
        out = self.daemon.run("config", "trust", "add", name).stdout.splitlines()
        assert out[0] == f"Client {name} certificate add token:"
        return out[-1]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    if os.geteuid() != 0 or not shutil.which("lxc-start") or not shutil.which("incus"):
        pytest.skip("needs root, liblxc and the incus client")
    daemon = start_pincusd()
    try:
        daemon.init_pool("dir")
        daemon.import_busybox()
        port, instance = free_port(), f"secret-{secrets.token_hex(3)}"
        daemon.run("config", "set", "core.https_address", f"127.0.0.1:{port}")
        daemon.run("launch", "busybox", instance)
        yield Server(daemon, port, instance)
    finally:
        daemon.stop()
        daemon.log.unlink(missing_ok=True)


def test_a_pincus_cli_joins_pincusd_with_a_token(server: Server, tmp_path: Path) -> None:
    token = server.token("cli-a")
    assert tls.decode_token(token).addresses == [f"127.0.0.1:{server.port}"]
    added = pincus(tmp_path, "remote", "add", "srv", token)
    assert "Generating a client certificate" in added.stderr
    conf = yaml.safe_load((tmp_path / "config.yml").read_text())
    assert conf["remotes"]["srv"] == {"addr": server.url, "project": "default", "protocol": "incus", "public": False}
    pinned = (tmp_path / "servercerts" / "srv.crt").read_text()
    assert tls.fingerprint(pinned) == tls.decode_token(token).fingerprint
    assert pincus(tmp_path, "list", "srv:", "-c", "n", "-f", "csv").stdout == f"{server.instance}\n"
    pincus(tmp_path, "snapshot", "create", f"srv:{server.instance}", "via-https")
    assert "via-https" in pincus(tmp_path, "info", f"srv:{server.instance}").stdout
    pincus(tmp_path, "snapshot", "delete", f"srv:{server.instance}", "via-https")
    assert pincus(tmp_path, "exec", f"srv:{server.instance}", "--", "echo", "hi").stdout == "hi\n"
    trusted = server.daemon.run("config", "trust", "list", "-f", "csv", "-c", "nf").stdout
    fingerprint = tls.fingerprint((tmp_path / "client.crt").read_text())
    assert f"cli-a,{fingerprint[:12]}" in trusted
    by_url = tmp_path / "url"
    added = pincus(by_url, "remote", "add", "srv", server.url, "--accept-certificate", "--token", server.token("cli-url"))
    assert added.stdout == "Client certificate now trusted by server: srv\n"
    conf = yaml.safe_load((by_url / "config.yml").read_text())
    assert conf["remotes"]["srv"] == {"addr": server.url, "auth_type": "tls", "project": "default",
                                      "protocol": "incus", "public": False}
    assert pincus(by_url, "list", "srv:", "-c", "n", "-f", "csv").stdout == f"{server.instance}\n"
    again = pincus(tmp_path / "again", "remote", "add", "srv", token, check=False)
    assert again.returncode == 1
    assert again.stderr.endswith("Error: Failed to create certificate: No matching certificate add operation found\n")


def test_b_stock_incus_joins_pincusd(server: Server, tmp_path: Path) -> None:
    by_token, by_url, pre_trusted = tmp_path / "token", tmp_path / "url", tmp_path / "cert"
    incus(by_token, "remote", "add", "pz", server.token("incus-token"))
    assert incus(by_token, "list", "pz:", "-c", "n", "-f", "csv").stdout == f"{server.instance}\n"
    incus(by_token, "snapshot", "create", f"pz:{server.instance}", "s1")
    status, data = server.daemon.api("GET", f"/1.0/instances/{server.instance}/snapshots")
    assert status == 200 and f"/1.0/instances/{server.instance}/snapshots/s1" in data["metadata"]
    incus(by_url, "remote", "add", "pz", server.url, "--accept-certificate", "--token", server.token("incus-url"))
    assert incus(by_url, "list", "pz:", "-c", "n", "-f", "csv").stdout == f"{server.instance}\n"
    incus(by_url, "snapshot", "delete", f"pz:{server.instance}", "s1")
    incus(pre_trusted, "remote", "generate-certificate")
    server.daemon.run("config", "trust", "add-certificate", str(pre_trusted / "client.crt"), "--name", "pre")
    added = incus(pre_trusted, "remote", "add", "pz", server.url, "--accept-certificate")
    assert "Client certificate now trusted" not in added.stdout  # already trusted: no token asked
    assert incus(pre_trusted, "list", "pz:", "-c", "n", "-f", "csv").stdout == f"{server.instance}\n"
    names = server.daemon.run("config", "trust", "list", "-f", "csv", "-c", "n").stdout.split()
    assert {"incus-token", "incus-url", "pre"} <= set(names)


def _book(conf: Path, remote: str, name: str) -> None:
    """Chapter 8 of the book through ``pincus ... REMOTE:inst``."""
    ref = f"{remote}:{name}"
    pincus(conf, "launch", "busybox", ref)
    pincus(conf, "snapshot", ref, f"{name}-1")
    assert f"{name}-1" in pincus(conf, "info", ref).stdout
    pincus(conf, "exec", ref, "--", "touch", "/this_file.txt")
    pincus(conf, "stop", ref)
    pincus(conf, "restore", ref, f"{name}-1")
    pincus(conf, "start", ref)
    assert pincus(conf, "exec", ref, "--", "ls", "/this_file.txt", check=False).returncode != 0
    pincus(conf, "delete", f"{ref}/{name}-1")
    assert f"{name}-1" not in pincus(conf, "info", ref).stdout
    refused = pincus(conf, "delete", ref, check=False)
    assert refused.stderr == "Error: The instance is currently running, stop it first or pass --force\n"
    pincus(conf, "delete", "--force", ref)


@pytest.mark.incus
def test_c_pincus_cli_drives_a_real_incusd(tmp_path: Path) -> None:
    if not incus_available() or not shutil.which("lxc-start"):
        pytest.skip("needs root and the real Incus")
    daemon = start_incusd()
    try:
        daemon.import_image(*busybox_image(), alias="busybox")
        daemon.run("config", "set", "core.https_address", f"127.0.0.1:{free_port()}")
        token = daemon.run("config", "trust", "add", "pincus-c", "--quiet").stdout.strip()
        pincus(tmp_path, "remote", "add", "real", token)
        assert pincus(tmp_path, "remote", "list", "-f", "csv", "-c", "nu").stdout.count("real,https://127.0.0.1:") == 1
        _book(tmp_path, "real", daemon.unique("book"))
        assert pincus(tmp_path, "list", "real:", "-f", "csv").stdout == ""
        assert "pincus-c" in daemon.run("config", "trust", "list", "-f", "csv").stdout
    finally:
        daemon.stop()


def _raw(server: Server, ctx: ssl.SSLContext, method: str, path: str, body: Any = None) -> tuple[int, str]:
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=30)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def test_d_untrusted_clients_get_403_and_see_nothing(server: Server, tmp_path: Path) -> None:
    tls.write_pair(tmp_path / "u.crt", tmp_path / "u.key", client=True)
    with_cert = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with_cert.check_hostname, with_cert.verify_mode = False, ssl.CERT_NONE
    with_cert.load_cert_chain(tmp_path / "u.crt", tmp_path / "u.key")
    without_cert = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    without_cert.check_hostname, without_cert.verify_mode = False, ssl.CERT_NONE
    inst = server.instance
    paths = ["/1.0/instances", "/1.0/instances?recursion=2", f"/1.0/instances/{inst}", f"/1.0/instances/{inst}/state",
             f"/1.0/instances/{inst}/snapshots?recursion=1", "/1.0/operations?recursion=1", "/1.0/events",
             "/1.0/images?recursion=1", "/1.0/certificates?recursion=1", "/1.0/storage-pools?recursion=1",
             "/1.0/profiles?recursion=1", "/1.0/projects?recursion=1", "/1.0/networks"]
    for ctx in (with_cert, without_cert):
        status, body = _raw(server, ctx, "GET", "/1.0")
        info = json.loads(body)["metadata"]
        assert status == 200 and info["auth"] == "untrusted" and "environment" not in info and inst not in body
        for path in paths:
            status, body = _raw(server, ctx, "GET", path)
            assert (status, json.loads(body)["error"]) == (403, "not authorized"), path
            assert inst not in body
        for method, path, req in (("DELETE", f"/1.0/instances/{inst}", None),
                                  ("POST", f"/1.0/instances/{inst}/snapshots", {"name": "x"}),
                                  ("PATCH", "/1.0", {"config": {"core.https_address": ""}}),
                                  ("POST", "/1.0/certificates", {"trust_token": "not-a-token"})):
            status, body = _raw(server, ctx, method, path, req)
            assert status == 403 and inst not in body, path
    assert server.daemon.api("GET", f"/1.0/instances/{inst}")[0] == 200
    conf = tmp_path / "conf"
    (conf / "servercerts").mkdir(parents=True)
    (conf / "servercerts" / "srv.crt").write_text(ssl.get_server_certificate(("127.0.0.1", server.port)))
    (conf / "config.yml").write_text(f"remotes:\n  srv:\n    addr: {server.url}\n    protocol: incus\n")
    shutil.copy(tmp_path / "u.crt", conf / "client.crt")
    shutil.copy(tmp_path / "u.key", conf / "client.key")
    refused = pincus(conf, "list", "srv:", check=False)
    assert refused.returncode == 1 and refused.stderr == "Error: not authorized\n"
