"""The journal table: multi-step changes in progress, one row each, settled by recovery."""

from __future__ import annotations

import json
import sqlite3

from pincus.db.records import JournalRecord
from pincus.db.store import Store


def _entry(row: sqlite3.Row) -> JournalRecord:
    return JournalRecord(row["instance_id"], row["kind"], row["phase"], json.loads(row["data"]), row["id"])


class JournalStore:
    """Typed access to the journal rows of a Store (same connection, same transactions)."""

    def __init__(self, store: Store) -> None:
        self.conn = store.conn

    def add(self, entry: JournalRecord) -> int:
        """Record a change about to start; sets and returns its id."""
        cur = self.conn.execute(
            "INSERT INTO journal (instance_id, kind, phase, data) VALUES (?, ?, ?, ?)",
            (entry.instance_id, entry.kind, entry.phase, json.dumps(entry.data, sort_keys=True)),
        )
        entry.id = int(cur.lastrowid or 0)
        return entry.id

    def set_phase(self, entry: JournalRecord, phase: str) -> None:
        """Move a change to its next phase."""
        self.conn.execute("UPDATE journal SET phase = ? WHERE id = ?", (phase, entry.id))
        entry.phase = phase

    def remove(self, entry: JournalRecord) -> None:
        """The change is complete or undone."""
        self.conn.execute("DELETE FROM journal WHERE id = ?", (entry.id,))

    def pending(self) -> list[JournalRecord]:
        """Every change in progress, oldest first."""
        return [_entry(r) for r in self.conn.execute("SELECT * FROM journal ORDER BY id")]

    def of_instance(self, instance_id: int) -> list[JournalRecord]:
        """The changes in progress of one instance."""
        rows = self.conn.execute("SELECT * FROM journal WHERE instance_id = ? ORDER BY id", (instance_id,))
        return [_entry(r) for r in rows]
