from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pincus.base.errors import Conflict, NotFound
from pincus.db.records import InstanceRecord, SnapshotRecord
from pincus.db.schema import CREATING, DELETING, MIGRATIONS, READY
from pincus.db.store import DB_ZERO_TIME, Store, db_time, from_db_time

T0 = datetime(2026, 11, 26, 7, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "local.db")
    yield s
    s.close()


def _inst(store: Store, name: str = "c1") -> InstanceRecord:
    rec = InstanceRecord(name=name, pool="default", created_at=db_time(T0), last_used_at=DB_ZERO_TIME,
                         config={"a": "b"}, devices={"root": {"type": "disk"}}, profiles=["default"])
    store.create_instance(rec)
    return rec


def _snap(store: Store, inst: InstanceRecord, name: str, expires: datetime | None = None, pending: int = READY):
    rec = SnapshotRecord(instance_id=inst.id, name=name, created_at=db_time(T0), expires_at=db_time(expires),
                         last_used_at=DB_ZERO_TIME, pending=pending)
    store.create_snapshot(rec, inst.name)
    return rec


def test_migrations_are_idempotent(tmp_path):
    Store(tmp_path / "x.db").close()
    s = Store(tmp_path / "x.db")
    assert s.version == len(MIGRATIONS)
    s.close()


def test_instance_roundtrip_keeps_json_fields(store):
    rec = _inst(store)
    got = store.get_instance("c1")
    assert got.config == {"a": "b"} and got.devices == {"root": {"type": "disk"}} and got.profiles == ["default"]
    assert got.id == rec.id


def test_duplicate_instance_is_a_conflict(store):
    _inst(store)
    with pytest.raises(Conflict, match='Instance "c1" already exists'):
        _inst(store)


def test_missing_instance_message_matches_incus(store):
    with pytest.raises(NotFound, match='Failed to fetch instance "nope" in project "default": Instance not found'):
        store.get_instance("nope")


def test_pending_rows_are_hidden_from_normal_reads(store):
    rec = _inst(store)
    rec.pending = CREATING
    store.update_instance(rec)
    with pytest.raises(NotFound):
        store.get_instance("c1")
    assert store.instances() == [] and len(store.instances(include_pending=True)) == 1


def test_snapshot_not_found_message_matches_incus(store):
    inst = _inst(store)
    with pytest.raises(NotFound, match='Failed to fetch snapshot "s" of instance "c1" in project "default": '
                                       'Instance_snapshot not found'):
        store.get_snapshot(inst, "s")


def test_duplicate_snapshot_is_a_conflict(store):
    inst = _inst(store)
    _snap(store, inst, "s1")
    with pytest.raises(Conflict):
        _snap(store, inst, "s1")


def test_deleting_instance_cascades_to_snapshots(store):
    inst = _inst(store)
    _snap(store, inst, "s1")
    store.delete_instance(inst.id)
    assert store.all_snapshots() == {}


def test_expired_snapshots_use_time_order_not_text_quirks(store):
    inst = _inst(store)
    _snap(store, inst, "never")
    _snap(store, inst, "past", T0 - timedelta(microseconds=1))
    _snap(store, inst, "exact", T0)
    _snap(store, inst, "future", T0 + timedelta(microseconds=1))
    _snap(store, inst, "deleting", T0 - timedelta(days=1), pending=DELETING)
    assert [s.name for s in store.expired_snapshots(db_time(T0))] == ["past", "exact"]
    assert from_db_time(store.next_expiry()) == T0 - timedelta(microseconds=1)
    assert [s.name for s in store.pending_snapshots()] == ["deleting"]


def test_db_time_roundtrip():
    dt = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    assert from_db_time(db_time(dt)) == dt
    assert db_time(None) == DB_ZERO_TIME and from_db_time(DB_ZERO_TIME) is None


def test_an_earlier_versions_pending_restore_becomes_a_journal_entry(tmp_path):
    import json
    import sqlite3

    from pincus.db.journal import JournalStore

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:4]):
        conn.executescript("BEGIN;" + script + f";PRAGMA user_version = {number + 1};COMMIT;")
    conn.execute(
        "INSERT INTO instances (name, created_at, last_used_at, pool, pending_restore) VALUES (?, ?, ?, ?, ?)",
        ("c1", "t", "t", "default", json.dumps({"snapshot": "s1", "disk_only": False})),
    )
    conn.commit()
    conn.close()
    store = Store(path)
    entries = JournalStore(store).pending()
    assert [(e.kind, e.phase, e.data["snapshot"]) for e in entries] == [("restore", "redo", "s1")]
    assert store.get_instance("c1").error == ""
    store.close()
