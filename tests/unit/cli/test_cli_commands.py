"""Command resolution (Incus 6 and book syntax) and the requests each command sends, on the fake daemon."""

from __future__ import annotations

from typing import Any

import pytest
from fakeincus import FakeIncus, error, sync

SNAP = {
    "name": "s1", "created_at": "2026-11-26T07:15:42.857533869Z", "expires_at": "0001-01-01T00:00:00Z",
    "stateful": False, "config": {}, "devices": {}, "profiles": ["default"], "size": -1,
}  # fmt: skip
INST = {
    "name": "c1", "status": "Running", "status_code": 103, "type": "container", "config": {}, "devices": {},
    "profiles": ["default"], "created_at": "2026-11-26T07:15:42Z", "last_used_at": "2026-11-26T07:15:42Z",
    "expanded_devices": {"root": {"type": "disk", "path": "/", "pool": "default"}}, "location": "none",
    "architecture": "x86_64", "description": "",
}  # fmt: skip


def _ok(fake: FakeIncus) -> Any:
    return lambda req: fake.operation()


def test_incus6_snapshot_create(fake: FakeIncus, pincus: Any) -> None:
    fake.route("POST", "/1.0/instances/c1/snapshots", _ok(fake))
    res = pincus("snapshot", "create", "c1", "s1", "--no-expiry")
    assert res.code == 0, res.err
    assert fake.requests[0].json() == {"name": "s1", "stateful": False, "expires_at": "0001-01-01T00:00:00Z"}


def test_book_snapshot_form(fake: FakeIncus, pincus: Any) -> None:
    fake.route("POST", "/1.0/instances/ubuntu-test/snapshots", _ok(fake))
    assert pincus("snapshot", "ubuntu-test", "ubuntu-test-1").code == 0
    assert fake.requests[0].json()["name"] == "ubuntu-test-1"


def test_book_snapshot_without_name_and_stateful_flag(fake: FakeIncus, pincus: Any) -> None:
    fake.route("POST", "/1.0/instances/c1/snapshots", _ok(fake))
    assert pincus("snapshot", "c1", "--stateful").code == 0
    assert fake.requests[0].json() == {"name": "", "stateful": True, "expires_at": None}


def test_snapshot_expiry_from_stdin_yaml(fake: FakeIncus, pincus: Any) -> None:
    fake.route("POST", "/1.0/instances/c1/snapshots", _ok(fake))
    assert pincus("snapshot", "create", "c1", "s1", stdin="expires_at: 2030-06-30T01:00:00Z\n").code == 0
    assert fake.requests[0].json()["expires_at"] == "2030-06-30T01:00:00Z"


def test_snapshot_expiry_flag_span(fake: FakeIncus, pincus: Any) -> None:
    fake.route("POST", "/1.0/instances/c1/snapshots", _ok(fake))
    assert pincus("snapshot", "create", "c1", "s1", "--expiry", "1d").code == 0
    assert fake.requests[0].json()["expires_at"].endswith("Z")
    res = pincus("snapshot", "create", "c1", "s1", "--expiry", "1d", "--no-expiry")
    assert res.code == 1 and res.err == "Error: Can't use both --no-expiry and --expiry\n"


def test_snapshot_reuse_deletes_first(fake: FakeIncus, pincus: Any) -> None:
    fake.route("GET", "/1.0/instances/c1/snapshots/s1", sync(SNAP))
    fake.route("DELETE", "/1.0/instances/c1/snapshots/s1", _ok(fake))
    fake.route("POST", "/1.0/instances/c1/snapshots", _ok(fake))
    assert pincus("snapshot", "create", "c1", "s1", "--reuse").code == 0
    methods = [m for m, p in fake.calls if "/operations/" not in p]
    assert methods == ["GET", "DELETE", "POST"]


@pytest.mark.parametrize("argv", [["restore", "c1", "s1"], ["snapshot", "restore", "c1", "s1"]])
def test_restore_both_syntaxes(fake: FakeIncus, pincus: Any, argv: list[str]) -> None:
    fake.route("PUT", "/1.0/instances/c1", _ok(fake))
    assert pincus(*argv).code == 0
    body = fake.requests[0].json()
    assert body["restore"] == "c1/s1" and body["stateful"] is False and "disk_only" not in body


def test_restore_diskonly(fake: FakeIncus, pincus: Any) -> None:
    fake.route("PUT", "/1.0/instances/c1", _ok(fake))
    assert pincus("snapshot", "restore", "c1", "s1", "--diskonly").code == 0
    assert fake.requests[0].json()["disk_only"] is True


def test_book_delete_of_snapshot_never_deletes_the_instance(fake: FakeIncus, pincus: Any) -> None:
    fake.route("GET", "/1.0/instances/c1/snapshots/s1", sync(SNAP))
    fake.route("DELETE", "/1.0/instances/c1/snapshots/s1", _ok(fake))
    assert pincus("delete", "c1/s1").code == 0
    assert ("DELETE", "/1.0/instances/c1/snapshots/s1") in fake.calls
    assert not any(m == "DELETE" and p == "/1.0/instances/c1" for m, p in fake.calls)


def test_delete_missing_snapshot_message(fake: FakeIncus, pincus: Any) -> None:
    msg = 'Failed to fetch snapshot "x" of instance "c1" in project "default": Instance_snapshot not found'
    fake.route("GET", "/1.0/instances/c1/snapshots/x", error(404, msg))
    res = pincus("delete", "c1/x")
    assert res.code == 1
    assert res.err == f'Error: Failed checking instance snapshot exists "local:c1/x": {msg}\n'


def test_delete_running_instance(fake: FakeIncus, pincus: Any) -> None:
    fake.route("GET", "/1.0/instances/c1", sync(INST))
    res = pincus("delete", "c1")
    assert (
        res.code == 1
        and res.err == "Error: The instance is currently running, stop it first or pass --force\n"
    )
    fake.route("PUT", "/1.0/instances/c1/state", _ok(fake))
    fake.route("DELETE", "/1.0/instances/c1", _ok(fake))
    assert pincus("delete", "-f", "c1").code == 0
    stop = next(r for r in fake.requests if r.method == "PUT")
    assert stop.json() == {"action": "stop", "timeout": -1, "force": True, "stateful": False}


def test_copy_snapshot_and_instance_only(fake: FakeIncus, pincus: Any) -> None:
    fake.route("GET", "/1.0/instances/c1/snapshots/s1", sync(SNAP))
    fake.route("GET", "/1.0/instances/c1", sync({**INST, "status_code": 102}))
    fake.route("POST", "/1.0/instances", _ok(fake))
    assert pincus("copy", "c1/s1", "c2").code == 0
    assert pincus("copy", "c1", "c3", "--instance-only").code == 0
    posts = [r.json() for r in fake.requests if r.method == "POST"]
    assert posts[0]["source"]["source"] == "c1/s1" and posts[0]["name"] == "c2"
    assert posts[1]["source"] == {
        "type": "copy", "certificate": "", "base-image": "", "source": "c1", "instance_only": True,
        "allow_inconsistent": False,
    }  # fmt: skip


def test_rename_instance_and_snapshot(fake: FakeIncus, pincus: Any) -> None:
    fake.route("POST", "/1.0/instances/c1", _ok(fake))
    fake.route("POST", "/1.0/instances/c1/snapshots/s1", _ok(fake))
    assert pincus("rename", "c1", "c2").code == 0
    assert pincus("move", "c1/s1", "c1/s2").code == 0
    assert fake.requests[0].json()["name"] == "c2"
    assert fake.requests[2].json()["name"] == "s2"


def test_publish_snapshot(fake: FakeIncus, pincus: Any) -> None:
    fake.route("GET", "/1.0/images/aliases", sync([]))
    fake.route("POST", "/1.0/images", lambda req: fake.operation(metadata={"fingerprint": "abc123"}))
    fake.route("POST", "/1.0/images/aliases", sync(None))
    res = pincus("publish", "c1/s1", "--alias", "img")
    assert res.code == 0 and res.out == "Instance published with fingerprint: abc123\n"
    post = next(r.json() for r in fake.requests if r.path == "/1.0/images")
    assert post["source"]["type"] == "snapshot" and post["source"]["name"] == "c1/s1"


def test_snapshot_list_formats(fake: FakeIncus, pincus: Any) -> None:
    fake.route("GET", "/1.0/instances/c1/snapshots", sync([SNAP]))
    table = pincus("snapshot", "list", "c1").out
    assert "| s1   | 2026/11/26 07:15 UTC |            | NO       |" in table
    assert pincus("snapshot", "list", "c1", "-f", "csv").out == 's1,2026/11/26 07:15 UTC," ",NO\n'
    res = pincus("snapshot", "list", "c1", "-c", "nx")
    assert res.err == "Error: Unknown column shorthand char 'x' in 'nx'\n"


def test_info_ends_with_snapshot_table(fake: FakeIncus, pincus: Any) -> None:
    fake.route(
        "GET",
        "/1.0/instances/c1",
        sync({**INST, "status_code": 102, "status": "Stopped", "snapshots": [SNAP]}),
    )
    out = pincus("info", "c1").out
    assert out.startswith("Name: c1\nDescription: \nStatus: STOPPED\nType: container\n")
    lines = out.splitlines()
    assert lines[-7:-5] == ["", "Snapshots:"]
    assert lines[-4] == "| NAME |       TAKEN AT       | EXPIRES AT | STATEFUL |"
    assert lines[-2] == "| s1   | 2026/11/26 07:15 UTC |            | NO       |"


def test_config_set_forms(fake: FakeIncus, pincus: Any) -> None:
    fake.route("GET", "/1.0/instances/c1", sync(INST, etag='"e1"'))
    fake.route("PUT", "/1.0/instances/c1", _ok(fake))
    assert pincus("config", "set", "c1", "user.a=1", "user.b=2").code == 0
    assert pincus("config", "set", "c1", "snapshots.schedule", "50 20 * * *").code == 0
    puts = [r for r in fake.requests if r.method == "PUT"]
    assert puts[0].json()["config"] == {"user.a": "1", "user.b": "2"}
    assert puts[1].json()["config"] == {"snapshots.schedule": "50 20 * * *"}
    assert puts[0].headers["if-match"] == '"e1"'


def test_config_edit_snapshot_expiry_from_stdin(fake: FakeIncus, pincus: Any) -> None:
    fake.route("PUT", "/1.0/instances/c1/snapshots/s1", _ok(fake))
    assert pincus("config", "edit", "c1/s1", stdin="expires_at: 2031-01-01T00:00:00Z\n").code == 0
    assert fake.requests[0].json() == {"expires_at": "2031-01-01T00:00:00Z"}


def test_list_request_and_columns(fake: FakeIncus, pincus: Any) -> None:
    fake.route("GET", "/1.0/instances", sync([{**INST, "snapshots": [SNAP], "state": None}]))
    out = pincus("list").out
    assert "| c1   | RUNNING |      |      | CONTAINER | 1         |" in out
    assert fake.calls[-1] == ("GET", "/1.0/instances?filter=&recursion=2")
    pincus("list", "-c", "ns")
    assert fake.calls[-1] == ("GET", "/1.0/instances?filter=&recursion=1")
    pincus("list", "status=running")
    assert fake.calls[-1] == ("GET", "/1.0/instances?filter=status+eq+running&recursion=2")


def test_unknown_command_and_arg_count(fake: FakeIncus, pincus: Any) -> None:
    res = pincus("bogus")
    assert res.code == 1 and res.err == 'Error: unknown command "bogus" for "pincus"\n'
    res = pincus("snapshot", "rename", "c1", "s1")
    assert res.code == 1 and res.err == "Error: Invalid number of arguments\n" and "Usage:" in res.out
    assert pincus("snapshot", "create").code == 0  # no arguments: usage, exit 0 (as incus)


def test_remote_prefix(fake: FakeIncus, pincus: Any) -> None:
    fake.route("GET", "/1.0/instances/c1/snapshots", sync([]))
    assert pincus("snapshot", "list", "local:c1").code == 0
    res = pincus("snapshot", "list", "nope:c1")
    assert res.err == 'Error: The remote "nope" doesn\'t exist\n'
