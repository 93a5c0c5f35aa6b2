from __future__ import annotations

import asyncio

from pincus.base.gotime import ZERO_TIME

SNAPS = "/1.0/instances/c1/snapshots"


async def test_create_list_get_delete(api):
    await api.create()
    op = await api.ok("POST", SNAPS, {"name": "s1", "stateful": False, "expires_at": None})
    assert op["description"] == "Snapshotting instance"
    assert op["resources"]["instances_snapshots"] == [f"{SNAPS}/s1"]
    assert await api.ok("GET", SNAPS) == [f"{SNAPS}/s1"]
    snap = await api.ok("GET", f"{SNAPS}/s1")
    assert snap["name"] == "s1" and snap["expires_at"] == ZERO_TIME and snap["stateful"] is False
    assert set(snap) >= {"architecture", "config", "devices", "ephemeral", "expanded_config", "expanded_devices",
                         "created_at", "last_used_at", "profiles", "size"}
    await api.ok("DELETE", f"{SNAPS}/s1")
    assert await api.ok("GET", SNAPS) == []


async def test_default_names_follow_snap_percent_d_max_plus_one(api):
    await api.create()
    for _ in range(3):
        await api.ok("POST", SNAPS, {})
    await api.ok("DELETE", f"{SNAPS}/snap1")
    await api.ok("POST", SNAPS, {})
    names = [s["name"] for s in await api.ok("GET", SNAPS + "?recursion=1")]
    assert names == ["snap0", "snap2", "snap3"]


async def test_pattern_with_date(api):
    await api.create(config={"snapshots.pattern": "{{ creation_date|date:'2006-01-02' }}-%d"})
    await api.ok("POST", SNAPS, {})
    await api.ok("POST", SNAPS, {})
    names = [s["name"] for s in await api.ok("GET", SNAPS + "?recursion=1")]
    day = api.clock.now.astimezone().strftime("%Y-%m-%d")
    assert names == [f"{day}-0", f"{day}-1"]


async def test_duplicate_and_invalid_names(api):
    await api.create()
    await api.ok("POST", SNAPS, {"name": "s1"})
    status, data = await api.call("POST", SNAPS, {"name": "s1"})
    assert status == 409 and data["error"] == 'Snapshot "s1" of instance "c1" already exists'
    for bad in ("a/b", "a?b", "a&b", "a+b", ".."):
        status, data = await api.call("POST", SNAPS, {"name": bad})
        assert status == 400, (bad, data)


async def test_unknown_instance_and_snapshot_messages(api):
    status, data = await api.call("GET", "/1.0/instances/nope/snapshots")
    assert status == 404
    assert data["error"] == 'Failed to fetch instance "nope" in project "default": Instance not found'
    await api.create()
    status, data = await api.call("GET", f"{SNAPS}/nope")
    assert status == 404
    assert data["error"] == ('Failed to fetch snapshot "nope" of instance "c1" in project "default": '
                             "Instance_snapshot not found")


async def test_stateful_is_refused_with_the_reason(api):
    await api.create()
    status, data = await api.call("POST", SNAPS, {"name": "s1", "stateful": True})
    assert status == 400 and "CRIU" in data["error"]
    assert await api.ok("GET", SNAPS) == []


async def test_expiry_is_stamped_from_config_and_manual_key_wins(api):
    await api.create(config={"snapshots.expiry": "1d"})
    await api.ok("POST", SNAPS, {"name": "a"})
    snap = await api.ok("GET", f"{SNAPS}/a")
    assert snap["expires_at"].startswith("2026-11-27T07:00:00")
    await api.ok("PATCH", "/1.0/instances/c1", {"config": {"snapshots.expiry.manual": "2H"}})
    await api.ok("POST", SNAPS, {"name": "b"})
    assert (await api.ok("GET", f"{SNAPS}/b"))["expires_at"].startswith("2026-11-26T09:00:00")
    await api.ok("POST", SNAPS, {"name": "c", "expires_at": ZERO_TIME})
    assert (await api.ok("GET", f"{SNAPS}/c"))["expires_at"] == ZERO_TIME
    await api.ok("POST", SNAPS, {"name": "d", "expires_at": "2030-01-01T00:00:00Z"})
    assert (await api.ok("GET", f"{SNAPS}/d"))["expires_at"] == "2030-01-01T00:00:00Z"


async def test_expiry_edit_honours_etag(api):
    await api.create()
    await api.ok("POST", SNAPS, {"name": "s1"})
    resp = await api.client.get(f"{SNAPS}/s1")
    etag = resp.headers["ETag"]
    await api.ok("PUT", f"{SNAPS}/s1", {"expires_at": "2031-01-01T00:00:00Z"}, headers={"If-Match": etag})
    assert (await api.ok("GET", f"{SNAPS}/s1"))["expires_at"] == "2031-01-01T00:00:00Z"
    status, data = await api.call("PUT", f"{SNAPS}/s1", {"expires_at": "2032-01-01T00:00:00Z"},
                                  headers={"If-Match": etag})
    assert status == 412


async def test_rename_and_taken_name(api):
    await api.create()
    await api.ok("POST", SNAPS, {"name": "s1"})
    await api.ok("POST", SNAPS, {"name": "s2"})
    status, data = await api.call("POST", f"{SNAPS}/s1", {"name": "s2"})
    assert status == 409 and data["error"] == "Name 'c1/s2' already in use"
    await api.ok("POST", f"{SNAPS}/s1", {"name": "s3"})
    assert sorted(s["name"] for s in await api.ok("GET", SNAPS + "?recursion=1")) == ["s2", "s3"]
    assert api.driver.volume_exists(api.services.instances.volume(api.services.instances.get("c1")).snapshot("s3"))


async def test_restore_older_snapshot_keeps_newer_and_config(api):
    await api.create(config={"user.step": "one"})
    rootfs = api.services.instances.rootfs(api.services.instances.get("c1"))
    await api.ok("POST", SNAPS, {"name": "s1"})
    (rootfs / "etc" / "version").write_text("2\n")
    await api.ok("PATCH", "/1.0/instances/c1", {"config": {"user.step": "two"}})
    await api.ok("POST", SNAPS, {"name": "s2"})
    (rootfs / "this_file.txt").write_text("made after the snapshots")
    op = await api.ok("PUT", "/1.0/instances/c1", {"restore": "s1"})
    assert op["description"] == "Restoring snapshot"
    rootfs = api.services.instances.rootfs(api.services.instances.get("c1"))
    assert (rootfs / "etc" / "version").read_text() == "1\n"
    assert not (rootfs / "this_file.txt").exists()
    inst = await api.ok("GET", "/1.0/instances/c1")
    assert inst["config"]["user.step"] == "one"
    assert [s["name"] for s in await api.ok("GET", SNAPS + "?recursion=1")] == ["s1", "s2"]
    await api.ok("PUT", "/1.0/instances/c1", {"restore": "c1/s2"})
    assert (rootfs / "etc" / "version").read_text() == "2\n"


async def test_restore_of_running_instance_stops_and_starts_it(api):
    await api.create()
    await api.ok("PUT", "/1.0/instances/c1/state", {"action": "start"})
    await api.ok("POST", SNAPS, {"name": "s1"})
    api.runtime.calls.clear()
    await api.ok("PUT", "/1.0/instances/c1", {"restore": "s1"})
    methods = [m for m, _ in api.runtime.calls]
    assert methods.index("stop") < methods.index("start")
    assert (await api.ok("GET", "/1.0/instances/c1"))["status"] == "Running"


async def test_disk_only_restore_keeps_config(api):
    await api.create(config={"user.step": "one"})
    await api.ok("POST", SNAPS, {"name": "s1"})
    await api.ok("PATCH", "/1.0/instances/c1", {"config": {"user.step": "two"}})
    await api.ok("PUT", "/1.0/instances/c1", {"restore": "s1", "disk_only": True})
    assert (await api.ok("GET", "/1.0/instances/c1"))["config"]["user.step"] == "two"


async def test_snapshot_records_config_devices_profiles(api):
    await api.create(config={"user.k": "v"})
    await api.ok("POST", SNAPS, {"name": "s1"})
    snap = await api.ok("GET", f"{SNAPS}/s1")
    assert snap["config"]["user.k"] == "v" and snap["profiles"] == ["default"]
    assert snap["expanded_devices"]["root"]["pool"] == "default"


async def test_instance_full_and_list_recursion_include_snapshots(api):
    await api.create()
    await api.ok("POST", SNAPS, {"name": "s1"})
    full = await api.ok("GET", "/1.0/instances/c1?recursion=1")
    assert [s["name"] for s in full["snapshots"]] == ["s1"] and full["state"]["status"] == "Stopped"
    listed = await api.ok("GET", "/1.0/instances?recursion=2")
    assert [s["name"] for s in listed[0]["snapshots"]] == ["s1"]


async def test_deleting_instance_deletes_its_snapshots(api):
    await api.create()
    await api.ok("POST", SNAPS, {"name": "s1"})
    vol = api.services.instances.volume(api.services.instances.get("c1"))
    await api.ok("DELETE", "/1.0/instances/c1")
    assert not api.driver.volume_exists(vol) and not api.driver.volume_exists(vol.snapshot("s1"))
    assert api.services.st.store.all_snapshots() == {}


async def test_running_delete_and_protection(api):
    await api.create(config={"security.protection.delete": "true"})
    await api.ok("PUT", "/1.0/instances/c1/state", {"action": "start"})
    status, data = await api.call("DELETE", "/1.0/instances/c1")
    assert status == 400 and data["error"] == "Instance is running"
    await api.ok("PUT", "/1.0/instances/c1/state", {"action": "stop", "force": True})
    status, data = await api.call("DELETE", "/1.0/instances/c1")
    assert data["status"] == "Failure" and data["err"] == "Instance is protected"
    await api.ok("POST", SNAPS, {"name": "s1"})
    await api.ok("DELETE", f"{SNAPS}/s1")  # protection covers the instance, not its snapshots


async def test_lifecycle_events_are_published(api):
    await api.create()
    listener = api.services.st.hub.subscribe({"lifecycle"})
    await api.ok("POST", SNAPS, {"name": "s1"})
    await api.ok("PATCH", f"{SNAPS}/s1", {"expires_at": "2031-01-01T00:00:00Z"})
    await api.ok("POST", f"{SNAPS}/s1", {"name": "s2"})
    await api.ok("PUT", "/1.0/instances/c1", {"restore": "s2"})
    await api.ok("DELETE", f"{SNAPS}/s2")
    actions = []
    while not listener.queue.empty():
        actions.append(listener.queue.get_nowait()["metadata"]["action"])
    assert actions == ["instance-snapshot-created", "instance-snapshot-updated", "instance-snapshot-renamed",
                       "instance-restored", "instance-snapshot-deleted"]


async def test_concurrent_snapshots_of_one_instance_are_serialised(api):
    await api.create()
    ops = [await api.call("POST", SNAPS, {}, wait=False) for _ in range(5)]
    results = await asyncio.gather(*(api.client.get(d["operation"] + "/wait") for _, d in ops))
    assert [(await r.json())["metadata"]["status"] for r in results] == ["Success"] * 5
    names = sorted(s["name"] for s in await api.ok("GET", SNAPS + "?recursion=1"))
    assert names == ["snap0", "snap1", "snap2", "snap3", "snap4"]


async def test_copy_of_snapshot_makes_new_instance(api):
    await api.create()
    await api.ok("POST", SNAPS, {"name": "s1"})
    rootfs = api.services.instances.rootfs(api.services.instances.get("c1"))
    (rootfs / "etc" / "version").write_text("2\n")
    await api.ok("POST", "/1.0/instances", {"name": "c2", "source": {"type": "copy", "source": "c1/s1"}})
    c2 = api.services.instances.rootfs(api.services.instances.get("c2"))
    assert (c2 / "etc" / "version").read_text() == "1\n"
    assert await api.ok("GET", "/1.0/instances/c2/snapshots") == []


async def test_snapshot_of_frozen_instance_keeps_it_frozen(api):
    await api.create()
    await api.ok("PUT", "/1.0/instances/c1/state", {"action": "start"})
    await api.ok("PUT", "/1.0/instances/c1/state", {"action": "freeze"})
    await api.ok("POST", SNAPS, {"name": "s1"})
    assert (await api.ok("GET", "/1.0/instances/c1"))["status"] == "Frozen"


async def test_snapshot_of_running_instance_freezes_only_around_the_copy(api):
    await api.create()
    await api.ok("PUT", "/1.0/instances/c1/state", {"action": "start"})
    api.runtime.calls.clear()
    await api.ok("POST", SNAPS, {"name": "s1"})
    methods = [m for m, _ in api.runtime.calls if m in ("freeze", "unfreeze")]
    assert methods in ([], ["freeze", "unfreeze"])
    assert (await api.ok("GET", "/1.0/instances/c1"))["status"] == "Running"
