from __future__ import annotations

import json

import aiohttp

from pincus.storage.drivers.base import CONTAINER, Volume


async def test_malformed_bodies_are_400_and_change_nothing(api):
    for body in (b"{not json", b"[1,2]"):
        resp = await api.client.post("/1.0/instances", data=body, headers={"Content-Type": "application/json"})
        data = await resp.json()
        assert resp.status == 400 and data["type"] == "error" and data["error_code"] == 400
    assert await api.ok("GET", "/1.0/instances") == []


async def test_invalid_and_duplicate_instance_names(api):
    status, data = await api.call("POST", "/1.0/instances", {"name": "-bad", "source": {"type": "none"}})
    assert status == 400 and "Invalid instance name" in data["error"]
    await api.create("c1")
    status, data = await api.call("POST", "/1.0/instances", {"name": "c1", "source": {"type": "none"}})
    assert status == 409 and data["error"] == 'Instance "c1" already exists'


async def test_unknown_image_and_pool_fail_cleanly(api):
    _, op = await api.call("POST", "/1.0/instances", {"name": "c1", "source": {"type": "image", "alias": "nope"}})
    assert op["status"] == "Failure" and op["err"] == 'Image "nope" not found'
    status, data = await api.call("POST", "/1.0/instances", {
        "name": "c2", "source": {"type": "none"}, "devices": {"root": {"type": "disk", "path": "/", "pool": "nope"}}})
    assert status == 404 and "nope" in data["error"]
    assert await api.ok("GET", "/1.0/instances") == []
    containers = api.driver.volume_path(Volume("default", CONTAINER, "c1")).parent
    assert not containers.exists() or list(containers.iterdir()) == []


async def test_snapshot_path_as_instance_name_is_invalid(api):
    status, data = await api.call("GET", "/1.0/instances/c1%2Fs1")
    assert status == 400 and data["error"] == "Invalid instance name"


async def test_power_state_errors(api):
    await api.create()
    _, op = await api.call("PUT", "/1.0/instances/c1/state", {"action": "stop"})
    assert op["err"] == "The instance is already stopped"
    await api.ok("PUT", "/1.0/instances/c1/state", {"action": "start"})
    _, op = await api.call("PUT", "/1.0/instances/c1/state", {"action": "start"})
    assert op["err"] == "The instance is already running"
    status, data = await api.call("PUT", "/1.0/instances/c1/state", {"action": "explode"})
    assert status == 400


async def test_config_validation_names_the_key(api):
    await api.create()
    status, data = await api.call("PATCH", "/1.0/instances/c1", {"config": {"no.such.key": "1"}})
    assert status == 400 and "no.such.key" in data["error"]
    status, data = await api.call("PATCH", "/1.0/instances/c1", {"config": {"limits.memory": "lots"}})
    assert status == 400 and "limits.memory" in data["error"]


async def test_instance_etag_and_if_match(api):
    await api.create()
    resp = await api.client.get("/1.0/instances/c1")
    etag = resp.headers["ETag"]
    await api.ok("PATCH", "/1.0/instances/c1", {"config": {"user.a": "1"}}, headers={"If-Match": etag})
    status, _ = await api.call("PATCH", "/1.0/instances/c1", {"config": {"user.a": "2"}}, headers={"If-Match": etag})
    assert status == 412


async def test_events_websocket_carries_operation_and_lifecycle(api):
    await api.create()
    async with api.client.ws_connect("/1.0/events?type=operation,lifecycle") as ws:
        await api.ok("POST", "/1.0/instances/c1/snapshots", {"name": "s1"})
        seen: list[tuple[str, str]] = []
        while not any(t == "lifecycle" for t, _ in seen) or ("operation", "Success") not in seen:
            msg = await ws.receive(timeout=5)
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            event = json.loads(msg.data)
            md = event["metadata"]
            seen.append((event["type"], md.get("status") or md.get("action")))
    assert ("operation", "Running") in seen and ("lifecycle", "instance-snapshot-created") in seen


async def test_operations_are_listed_and_waitable(api):
    await api.create()
    status, data = await api.call("POST", "/1.0/instances/c1/snapshots", {"name": "s1"}, wait=False)
    op_url = data["operation"]
    done = await api.ok("GET", op_url + "/wait?timeout=5")
    assert done["status"] == "Success" and done["status_code"] == 200
    listing = await api.ok("GET", "/1.0/operations")
    assert op_url in listing.get("success", [])
    status, data = await api.call("GET", "/1.0/operations/nope")
    assert status == 404


async def test_unknown_route_is_an_incus_error(api):
    status, data = await api.call("GET", "/1.0/nothing-here")
    assert status == 404 and data["type"] == "error"
