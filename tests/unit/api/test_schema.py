"""Request bodies are decoded against typed schemas before anything runs: wrong types are a 400 naming the field."""

from __future__ import annotations

import pytest

MAX_JSON = 8 << 20  # api/body.py's limit (a literal, so the test also runs against code without it)


async def _error(api, method: str, path: str, body: object = None, data: bytes | None = None) -> tuple[int, str]:
    if data is None:
        status, out = await api.call(method, path, body, wait=False)
        return status, out.get("error", "")
    resp = await api.client.request(method, path, data=data, headers={"Content-Type": "application/json"})
    return resp.status, (await resp.json())["error"]


@pytest.mark.parametrize(("body", "field"), [
    ({"name": 5, "source": {"type": "none"}}, "$.name"),
    ({"name": "c9", "config": "str"}, "$.config"),
    ({"name": "c9", "config": {"limits.cpu": 2}}, "$.config"),
    ({"name": "c9", "profiles": "default"}, "$.profiles"),
    ({"name": "c9", "ephemeral": "false"}, "$.ephemeral"),
    ({"name": "c9", "devices": {"root": "disk"}}, "$.devices"),
    ({"name": "c9", "source": "image"}, "$.source"),
    ({"name": "c9", "source": {"type": "image", "alias": ["busybox"]}}, "$.source.alias"),
    ({"name": "c9", "start": 1}, "$.start"),
])  # fmt: skip
async def test_instances_post_wrong_types_are_400_naming_the_field(api, body, field):
    status, err = await _error(api, "POST", "/1.0/instances", body)
    assert status == 400, err
    assert err.startswith("Invalid request body: ") and f"`{field}" in err
    assert await api.ok("GET", "/1.0/instances") == []


async def test_patch_ephemeral_as_a_string_is_refused_and_changes_nothing(api):
    await api.create("c1")
    status, err = await _error(api, "PATCH", "/1.0/instances/c1", {"ephemeral": "false"})
    assert (status, err) == (400, "Invalid request body: Expected `bool | null`, got `str` - at `$.ephemeral`")
    assert (await api.ok("GET", "/1.0/instances/c1"))["ephemeral"] is False


async def test_profiles_as_a_string_is_refused_not_split_into_letters(api):
    await api.create("c1")
    status, err = await _error(api, "PUT", "/1.0/instances/c1", {"profiles": "default"})
    assert status == 400 and "$.profiles" in err
    assert (await api.ok("GET", "/1.0/instances/c1"))["profiles"] == ["default"]


@pytest.mark.parametrize(("body", "field"), [
    ({"action": "stop", "timeout": "abc"}, "$.timeout"),
    ({"action": "stop", "timeout": 1.5}, "$.timeout"),
    ({"action": "stop", "timeout": 2**63}, "$.timeout"),
    ({"action": 5}, "$.action"),
    ({"action": "stop", "force": "yes"}, "$.force"),
])  # fmt: skip
async def test_state_put_wrong_types(api, body, field):
    await api.create("c1")
    status, err = await _error(api, "PUT", "/1.0/instances/c1/state", body)
    assert status == 400 and field in err, err


async def test_number_out_of_range_is_400(api):
    await api.create("c1")
    status, err = await _error(api, "PUT", "/1.0/instances/c1/state", data=b'{"action": "stop", "timeout": 1e999999}')
    assert status == 400 and "$.timeout" in err, err


async def test_json_nested_50k_deep_is_400_not_500(api):
    deep = b'{"unknown": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    status, err = await _error(api, "POST", "/1.0/instances", data=deep)
    assert status == 400 and "nested too deeply" in err


async def test_malformed_json_is_400(api):
    for raw in (b"{not json", b"[1, 2]", b'"str"', b"null", b'{"name": "a\xff"}'):
        status, _ = await _error(api, "POST", "/1.0/profiles", data=raw)
        assert status == 400, raw


async def test_body_over_the_limit_is_refused_before_reading_it_whole(api):
    big = b'{"description": "' + b"x" * MAX_JSON + b'"}'
    status, err = await _error(api, "POST", "/1.0/profiles", data=big)
    assert status == 413 and "too large" in err
    assert [p for p in await api.ok("GET", "/1.0/profiles") if p != "/1.0/profiles/default"] == []


async def test_snapshot_bad_expires_at_is_400_before_the_operation(api):
    await api.create("c1")
    for value in ("tomorrow", 5, "2026-13-01T00:00:00Z"):
        status, err = await _error(api, "POST", "/1.0/instances/c1/snapshots", {"name": "s1", "expires_at": value})
        assert status == 400 and "$.expires_at" in err, err
    assert await api.ok("GET", "/1.0/instances/c1/snapshots") == []
    await api.ok("POST", "/1.0/instances/c1/snapshots", {"name": "s1", "expires_at": "0001-01-01T00:00:00Z"})
    status, err = await _error(api, "PUT", "/1.0/instances/c1/snapshots/s1", {"expires_at": "soon"})
    assert status == 400 and "$.expires_at" in err


async def test_zero_and_real_expiry_dates_are_accepted(api):
    await api.create("c1")
    await api.ok("POST", "/1.0/instances/c1/snapshots", {"name": "s1", "expires_at": "2030-01-02T03:04:05.5+01:00"})
    snap = await api.ok("GET", "/1.0/instances/c1/snapshots/s1")
    assert snap["expires_at"].startswith("2030-01-02")


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("POST", "/1.0/profiles", {"name": "p1", "config": {"limits.cpu": 2}}, "$.config"),
    ("POST", "/1.0/profiles", {"name": "p1", "devices": {"eth0": {"mtu": 1500}}}, "$.devices"),
    ("PUT", "/1.0/profiles/default", {"description": 5}, "$.description"),
    ("POST", "/1.0/storage-pools", {"name": "p1", "driver": "dir", "config": {"source": 1}}, "$.config"),
    ("PATCH", "/1.0/storage-pools/default", {"description": []}, "$.description"),
    ("PATCH", "/1.0", {"config": {"core.https_address": 8443}}, "$.config"),
    ("POST", "/1.0/images/aliases", {"name": 1, "target": "x"}, "$.name"),
    ("POST", "/1.0/images", {"source": {"type": "instance", "name": 7}}, "$.source.name"),
    ("POST", "/1.0/replication-targets", {"name": "t", "token": True}, "$.token"),
    ("POST", "/1.0/certificates", {"token": "yes", "type": "client"}, "$.token"),
])  # fmt: skip
async def test_other_endpoints_check_types(api, method, path, body, field):
    headers = {"Content-Type": "application/json"}
    resp = await api.client.request(method, path, json=body, headers=headers)
    err = (await resp.json())["error"]
    assert resp.status == 400 and field in err, err
    assert [p for p in await api.ok("GET", "/1.0/profiles") if p != "/1.0/profiles/default"] == []
    assert await api.ok("GET", "/1.0/storage-pools") == ["/1.0/storage-pools/default"]


async def test_exec_numbers_must_fit_their_go_types(api):
    await api.create("c1")
    await api.ok("PUT", "/1.0/instances/c1/state", {"action": "start"})
    base = {"command": ["true"], "wait-for-websocket": True}
    for key, value in (("user", -1), ("group", 2**32), ("width", 2**20), ("command", "true"), ("environment", [])):
        status, err = await _error(api, "POST", "/1.0/instances/c1/exec", {**base, key: value})
        assert status == 400 and f"$.{key}" in err, (key, err)


async def test_query_numbers_are_checked(api):
    for path in ("/1.0/instances?recursion=abc", "/1.0/profiles?recursion=1x"):
        status, err = await _error(api, "GET", path)
        assert status == 400 and "recursion" in err
    await api.create("c1")
    status, data = await api.call("PUT", "/1.0/instances/c1/state", {"action": "start"}, wait=False)
    for timeout in ("abc", "nan", "inf", "1e999"):
        resp = await api.client.get(f"{data['operation']}/wait?timeout={timeout}")
        assert resp.status == 400, timeout


async def test_non_ascii_certificate_is_400_not_500(api):
    status, err = await _error(api, "POST", "/1.0/certificates", {"certificate": "\u0080", "type": "client"})
    assert status == 400 and "Invalid certificate" in err, err
