from __future__ import annotations

import json

from pincus.core.recovery import recover
from pincus.db.records import SnapshotRecord
from pincus.db.schema import CREATING, DELETING
from pincus.db.store import DB_ZERO_TIME, db_time


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


async def test_interrupted_restore_is_completed(api):
    await api.create(config={"user.step": "one"})
    s = api.services
    await api.ok("POST", "/1.0/instances/c1/snapshots", {"name": "s1"})
    rootfs = s.instances.rootfs(s.instances.get("c1"))
    (rootfs / "etc" / "version").write_text("2\n")
    await api.ok("PATCH", "/1.0/instances/c1", {"config": {"user.step": "two"}})
    inst = s.instances.get("c1")
    inst.pending_restore = json.dumps({"snapshot": "s1", "disk_only": False})
    s.st.store.update_instance(inst)

    await recover(s)

    inst = s.instances.get("c1")
    assert inst.pending_restore == "" and inst.config["user.step"] == "one"
    assert (s.instances.rootfs(inst) / "etc" / "version").read_text() == "1\n"


async def test_half_created_instance_is_removed(api):
    await api.create("c2")
    s = api.services
    inst = s.instances.get("c2")
    vol = s.instances.volume(inst)
    inst.pending = CREATING
    s.st.store.update_instance(inst)
    await recover(s)
    assert s.st.store.instances(include_pending=True) == [] and not api.driver.volume_exists(vol)
