from __future__ import annotations

from pincus.base.errors import InsufficientSpace
from pincus.core.instances import RENAME
from pincus.core.recovery import recover, retry_unsettled
from pincus.core.snapshots import COMMITTING, REDO, RESTARTING, RESTORE, SNAPSHOT_RENAME, STAGING, STARTED
from pincus.db.records import JournalRecord, SnapshotRecord
from pincus.db.schema import CREATING, DELETING
from pincus.db.store import DB_ZERO_TIME, db_time
from pincus.runtime.base import RUNNING, STOPPED


async def test_half_made_snapshot_is_undone_and_half_deleted_is_finished(api):
    await api.create()
    s = api.services
    inst = s.instances.get("c1")
    vol = s.instances.volume(inst)
    # Crash after the CREATING row and the volume, before READY:
    made = SnapshotRecord(instance_id=inst.id, name="half", created_at=db_time(api.clock.now),
                          expires_at=DB_ZERO_TIME, last_used_at=DB_ZERO_TIME, pending=CREATING)
    s.st.store.create_snapshot(made, "c1")
    api.driver.create_snapshot(vol.snapshot("half"))
    # Crash after marking DELETING, before the volume went:
    await api.ok("POST", "/1.0/instances/c1/snapshots", {"name": "gone"})
    doomed = s.st.store.get_snapshot(inst, "gone")
    doomed.pending = DELETING
    s.st.store.update_snapshot(doomed)
    await api.ok("POST", "/1.0/instances/c1/snapshots", {"name": "kept"})

    done = await recover(s)

    assert len(done) == 2
    assert [r.name for r in s.st.store.snapshots(inst.id, include_pending=True)] == ["kept"]
    assert not api.driver.volume_exists(vol.snapshot("half"))
    assert not api.driver.volume_exists(vol.snapshot("gone"))
    assert api.driver.volume_exists(vol.snapshot("kept"))


async def _changed_after_snapshot(api, running: bool = False):
    """c1 with snapshot s1 (version 1, user.step=one), then changed to version 2, user.step=two."""
    await api.create(config={"user.step": "one"})
    s = api.services
    await api.ok("POST", "/1.0/instances/c1/snapshots", {"name": "s1"})
    rootfs = s.instances.rootfs(s.instances.get("c1"))
    (rootfs / "etc" / "version").write_text("2\n")
    await api.ok("PATCH", "/1.0/instances/c1", {"config": {"user.step": "two"}})
    if running:
        await api.ok("PUT", "/1.0/instances/c1/state", {"action": "start"})
    return s, s.instances.get("c1")


def _version(s) -> str:
    return (s.instances.rootfs(s.instances.get("c1")) / "etc" / "version").read_text()


async def test_an_earlier_versions_pending_restore_is_redone(api):
    s, inst = await _changed_after_snapshot(api)
    s.st.journal.add(JournalRecord(inst.id, RESTORE, REDO, {"snapshot": "s1", "disk_only": False}))

    done = await recover(s)

    inst = s.instances.get("c1")
    assert inst.config["user.step"] == "one" and _version(s) == "1\n"
    assert s.st.journal.pending() == [] and inst.error == "" and len(done) == 1


async def test_a_restore_interrupted_before_its_swap_is_rolled_back_and_restarted(api):
    s, inst = await _changed_after_snapshot(api, running=True)
    vol = s.instances.volume(inst)
    await s.lifecycle.stop_for_change(inst)  # the restore had stopped it and staged the tree
    api.driver.stage_restore(vol, vol.snapshot("s1"))
    s.st.journal.add(JournalRecord(inst.id, RESTORE, STAGING, {"snapshot": "s1", "disk_only": False, "power": RUNNING}))

    await recover(s)

    inst = s.instances.get("c1")
    assert inst.config["user.step"] == "two" and _version(s) == "2\n"
    assert s.instances.status(inst) == RUNNING
    assert s.st.journal.pending() == [] and not (api.driver.layout.work_dir / "restore-containers-c1").exists()


async def test_a_restore_interrupted_after_its_swap_began_is_rolled_forward(api):
    s, inst = await _changed_after_snapshot(api)
    vol = s.instances.volume(inst)
    api.driver.stage_restore(vol, vol.snapshot("s1"))
    live = api.driver.volume_path(vol)
    live.rename(api.driver.layout.work_dir / "old-containers-c1")  # crash between the two renames
    s.st.journal.add(JournalRecord(inst.id, RESTORE, COMMITTING, {"snapshot": "s1", "disk_only": False, "power": STOPPED}))

    await recover(s)

    inst = s.instances.get("c1")
    assert inst.config["user.step"] == "one" and _version(s) == "1\n"
    assert s.st.journal.pending() == []


async def test_a_restore_interrupted_before_the_restart_restarts_the_instance(api):
    s, inst = await _changed_after_snapshot(api, running=True)
    await api.ok("PUT", "/1.0/instances/c1", {"restore": "s1"})
    await s.lifecycle.stop_for_change(s.instances.get("c1"))  # as if the daemon died before the start
    s.st.journal.add(JournalRecord(inst.id, RESTORE, RESTARTING, {"snapshot": "s1", "power": RUNNING}))

    await recover(s)

    assert s.instances.status(s.instances.get("c1")) == RUNNING and _version(s) == "1\n"
    assert s.st.journal.pending() == []


async def test_a_failed_restore_leaves_the_instance_as_it_was(api):
    s, inst = await _changed_after_snapshot(api, running=True)
    generation = s.instances.get("c1").config["volatile.uuid.generation"]
    api.driver.fail_next["stage_restore"] = InsufficientSpace("No space left on device")

    status, data = await api.call("PUT", "/1.0/instances/c1", {"restore": "s1"})

    assert data["status"] == "Failure" and "No space left" in data["err"]
    inst = s.instances.get("c1")
    assert inst.config["user.step"] == "two" and _version(s) == "2\n"
    assert inst.config["volatile.uuid.generation"] == generation
    assert s.instances.status(inst) == RUNNING  # given back its power state
    assert s.st.journal.pending() == [] and inst.error == ""
    assert await recover(s) == []  # and nothing is replayed at the next start


async def test_a_restore_of_a_stopped_instance_gets_a_new_generation(api):
    s, inst = await _changed_after_snapshot(api)
    before = inst.config["volatile.uuid.generation"]
    await api.ok("PUT", "/1.0/instances/c1", {"restore": "s1"})
    assert s.instances.get("c1").config["volatile.uuid.generation"] != before


async def test_a_failing_recovery_step_marks_the_instance_and_is_retried(api):
    s, inst = await _changed_after_snapshot(api)
    s.st.journal.add(JournalRecord(inst.id, RESTORE, REDO, {"snapshot": "s1", "disk_only": False}))
    api.driver.fail_next["stage_restore"] = InsufficientSpace("No space left on device")

    done = await recover(s)  # does not raise: the daemon goes on

    assert any("No space left" in line for line in done)
    listed = await api.ok("GET", "/1.0/instances/c1")
    assert listed["status"] == "Error" and listed["status_code"] == 112 and "No space left" in listed["error"]
    status, data = await api.call("PUT", "/1.0/instances/c1/state", {"action": "start"})
    assert data["status"] == "Failure" and "unfinished change" in data["err"]
    assert s.instances.status(s.instances.get("c1")) == STOPPED

    await retry_unsettled(s)  # the space is back: the next scheduler tick settles it

    inst = s.instances.get("c1")
    assert inst.error == "" and inst.config["user.step"] == "one" and _version(s) == "1\n"
    assert (await api.ok("GET", "/1.0/instances/c1"))["status"] == "Stopped"


async def test_an_unsettled_instance_can_still_be_deleted(api):
    s, inst = await _changed_after_snapshot(api)
    s.st.journal.add(JournalRecord(inst.id, RESTORE, REDO, {"snapshot": "s1", "disk_only": False}))
    api.driver.fail_next["stage_restore"] = InsufficientSpace("No space left on device")
    await recover(s)
    await api.ok("DELETE", "/1.0/instances/c1")
    assert s.st.store.instances(include_pending=True) == [] and s.st.journal.pending() == []


async def test_interrupted_renames_are_finished(api):
    s, inst = await _changed_after_snapshot(api)
    vol = s.instances.volume(inst)
    snap = s.st.store.get_snapshot(inst, "s1")
    api.driver.rename_snapshot(vol.snapshot("s1"), "s2")  # the snapshot's disk rename happened
    s.st.journal.add(JournalRecord(inst.id, SNAPSHOT_RENAME, STARTED, {"snapshot": snap.id, "old": "s1", "new": "s2"}))
    s.st.journal.add(JournalRecord(inst.id, RENAME, STARTED, {"old": "c1", "new": "c9"}))  # nothing on disk yet

    await recover(s)

    inst = s.instances.get("c9")
    assert [x.name for x in s.st.store.snapshots(inst.id)] == ["s2"]
    assert api.driver.list_snapshots(s.instances.volume(inst)) == ["s2"]
    assert _version_of(s, "c9") == "2\n" and s.st.journal.pending() == []


def _version_of(s, name: str) -> str:
    return (s.instances.rootfs(s.instances.get(name)) / "etc" / "version").read_text()


async def test_half_created_instance_is_removed(api):
    await api.create("c2")
    s = api.services
    inst = s.instances.get("c2")
    vol = s.instances.volume(inst)
    inst.pending = CREATING
    s.st.store.update_instance(inst)
    await recover(s)
    assert s.st.store.instances(include_pending=True) == [] and not api.driver.volume_exists(vol)


async def test_interrupted_uploads_are_removed_at_start(api):
    images = api.services.st.paths.images
    images.mkdir(parents=True, exist_ok=True)
    (images / ".upload-0a1b").mkdir()
    (images / ".upload-0a1b" / "meta").write_bytes(b"partial")
    (images / ".publish-2c3d.tar.gz").write_bytes(b"partial")
    (images / ("f" * 64)).write_bytes(b"a stored image")
    assert len(api.services.images.clean_leftovers()) == 2
    assert sorted(p.name for p in images.iterdir()) == ["f" * 64]
