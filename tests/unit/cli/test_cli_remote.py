"""``pincus remote`` and ``pincus config trust``: config.yml as incus writes it, and the requests sent."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from fakeincus import FakeIncus, sync

from pincus.base import tls
from pincus.cli.remote import normalize_addr
from pincus.client.remotes import load
from pincus.client.tls import TlsConnection, split_url

INCUS_CONFIG = """default-remote: local
remotes:
  images:
    addr: https://images.linuxcontainers.org
    protocol: simplestreams
    public: true
  local:
    addr: unix://
    protocol: incus
    public: false
  r2:
    addr: https://127.0.0.1:47713
    auth_type: tls
    project: default
    protocol: incus
    public: false
aliases: {}
"""


@pytest.fixture
def conf_dir() -> Path:
    return Path(os.environ["PINCUS_CONF"])


def test_config_yml_round_trips_byte_for_byte(fake: FakeIncus, pincus: Any, conf_dir: Path) -> None:
    (conf_dir / "config.yml").write_text(INCUS_CONFIG)
    res = pincus("remote", "switch", "r2")
    assert res.code == 0, res.err
    assert (conf_dir / "config.yml").read_text() == INCUS_CONFIG.replace("default-remote: local", "default-remote: r2")
    assert pincus("remote", "get-default").out == "r2\n"
    assert pincus("remote", "switch", "local").code == 0
    assert (conf_dir / "config.yml").read_text() == INCUS_CONFIG


def test_remote_list_matches_incus(fake: FakeIncus, pincus: Any, conf_dir: Path) -> None:
    (conf_dir / "config.yml").write_text(INCUS_CONFIG)
    assert pincus("remote", "list", "-f", "csv").out == (
        "images,https://images.linuxcontainers.org,simplestreams,none,YES,NO,NO\n"
        "local (current),unix://,incus,file access,NO,YES,NO\n"
        "r2,https://127.0.0.1:47713,incus,tls,NO,NO,NO\n"
    )
    assert pincus("remote", "list", "-f", "json").out.startswith(
        '{"images":{"Addr":"https://images.linuxcontainers.org","AuthType":"","KeepAlive":0,"Project":"",'
    )


def test_remote_remove_rename_and_errors(fake: FakeIncus, pincus: Any, conf_dir: Path) -> None:
    (conf_dir / "config.yml").write_text(INCUS_CONFIG)
    (conf_dir / "servercerts").mkdir()
    (conf_dir / "servercerts" / "r2.crt").write_text("x")
    assert pincus("remote", "rename", "r2", "backup").code == 0
    assert (conf_dir / "servercerts" / "backup.crt").exists()
    assert pincus("remote", "remove", "local").err == "Error: Remote local is static and cannot be modified\n"
    assert pincus("remote", "remove", "nope").err == "Error: Remote nope doesn't exist\n"
    assert pincus("remote", "add", "backup", "https://1.2.3.4").err == (
        "Error: Remote backup exists as <https://127.0.0.1:47713>\n"
    )
    assert pincus("remote", "add", "a:b", "https://1.2.3.4").err == "Error: Remote names may not contain colons\n"
    assert pincus("remote", "rm", "backup").code == 0
    assert not (conf_dir / "servercerts" / "backup.crt").exists()
    assert "backup" not in load(str(conf_dir / "config.yml")).remotes


def test_https_remote_gets_a_tls_connection(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(INCUS_CONFIG)
    conn = load(str(path)).connection("r2")
    assert isinstance(conn, TlsConnection)
    assert conn.host == "127.0.0.1:47713" and conn.project == "" and conn.pinned_path.endswith("servercerts/r2.crt")
    assert conn.url("/1.0/instances") == "/1.0/instances"  # project "default" is not sent, as incus


def test_addresses_are_normalized_like_incus() -> None:
    assert normalize_addr("10.0.0.2") == "https://10.0.0.2:8443"
    assert normalize_addr("10.0.0.2:9443") == "https://10.0.0.2:9443"
    assert normalize_addr("https://[::1]") == "https://[::1]:8443"
    assert normalize_addr("/run/x.socket") == "unix:///run/x.socket"
    assert normalize_addr("unix:/run/x.socket") == "unix:///run/x.socket"
    assert split_url("https://host.example:1234/") == ("host.example", 1234)


def _token_op(fake: FakeIncus, name: str) -> Any:
    meta = {"addresses": ["127.0.0.1:8443"], "fingerprint": "ab" * 32,
            "request": {"name": name, "type": "client", "restricted": False, "projects": [], "certificate": "",
                        "description": "", "trust_token": "", "token": True},
            "secret": "cd" * 32}  # fmt: skip
    status, doc = fake.operation(metadata=meta)
    doc["metadata"]["class"] = "token"
    fake.operations[doc["metadata"]["id"]].update(doc["metadata"])
    return status, doc


def test_trust_add_prints_the_token(fake: FakeIncus, pincus: Any) -> None:
    fake.route("POST", "/1.0/certificates", lambda req: _token_op(fake, "laptop"))
    res = pincus("config", "trust", "add", "laptop")
    assert res.code == 0, res.err
    header, token, _ = res.out.split("\n")
    assert header == "Client laptop certificate add token:"
    parsed = tls.decode_token(token)
    assert (parsed.client_name, parsed.secret, parsed.expires_at) == ("laptop", "cd" * 32, tls.ZERO_TIME)
    assert fake.requests[0].body == (b'{"name":"laptop","type":"client","restricted":false,"projects":null,'
                                     b'"certificate":"","description":"","trust_token":"","token":true}')
    assert pincus("config", "trust", "add", "x", "-q").out.count("\n") == 1


def test_trust_list_remove_and_tokens(fake: FakeIncus, pincus: Any, tmp_path: Path) -> None:
    tls.write_pair(tmp_path / "c.crt", tmp_path / "c.key", client=True)
    pem = (tmp_path / "c.crt").read_text()
    fp = tls.fingerprint(pem)
    cert = {"name": "bob", "type": "client", "restricted": False, "projects": [], "certificate": pem,
            "description": "", "fingerprint": fp}
    fake.route("GET", "/1.0/certificates", sync([cert]))
    fake.route("DELETE", f"/1.0/certificates/{fp[:12]}", sync({}))
    res = pincus("config", "trust", "list", "-f", "csv")
    assert res.out.startswith(f"bob,client,,{fp[:12]},") and res.code == 0
    assert pincus("config", "trust", "remove", fp[:12]).code == 0
    assert fake.calls[-1] == ("DELETE", f"/1.0/certificates/{fp[:12]}")
    _, doc = _token_op(fake, "pending")
    op = fake.operations[doc["metadata"]["id"]]
    op.update(status="Running", status_code=103)
    fake.route("GET", "/1.0/operations", sync({"running": [op]}))
    res = pincus("config", "trust", "list-tokens", "-f", "csv")
    assert res.out.startswith("pending,") and res.out.endswith('," "\n')  # no expiry: " ", as incus
    fake.route("DELETE", f"/1.0/operations/{op['id']}", sync({}))
    fake.routes.pop(("GET", f"/1.0/operations/{op['id']}"), None)
    res = pincus("config", "trust", "revoke-token", "pending")
    assert res.out == "Certificate add token for pending deleted\n"
    assert pincus("config", "trust", "revoke-token", "nobody").err == (
        "Error: No certificate add token for member nobody on remote: local\n"
    )
