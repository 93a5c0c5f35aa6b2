"""The replication_targets table: servers this daemon pushes instances to, with pinned certificates."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from pincus.base.errors import Conflict, NotFound
from pincus.db.store import Store


@dataclass(frozen=True)
class ReplicationTarget:
    """A server that trusts this daemon's certificate: its HTTPS URL and its own certificate."""

    name: str
    address: str  # https://host:port
    certificate: str  # PEM, pinned

    def to_api(self) -> dict[str, str]:
        """The API object (the certificate is shown by fingerprint only)."""
        from pincus.base.tls import fingerprint

        return {"name": self.name, "address": self.address, "fingerprint": fingerprint(self.certificate)}


class ReplicationTargets:
    """Typed access to replication_targets."""

    def __init__(self, store: Store) -> None:
        self.conn = store.conn

    def all(self) -> list[ReplicationTarget]:
        """Every target, by name."""
        rows = self.conn.execute("SELECT name, address, certificate FROM replication_targets ORDER BY name")
        return [ReplicationTarget(*r) for r in rows]

    def get(self, name: str) -> ReplicationTarget:
        """One target by name."""
        row = self.conn.execute(
            "SELECT name, address, certificate FROM replication_targets WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f'Replication target "{name}" not found')
        return ReplicationTarget(*row)

    def add(self, rec: ReplicationTarget) -> None:
        """Record a target."""
        try:
            with self.conn:
                self.conn.execute("INSERT INTO replication_targets (name, address, certificate) VALUES (?, ?, ?)",
                                  (rec.name, rec.address, rec.certificate))
        except sqlite3.IntegrityError:
            raise Conflict(f'Replication target "{rec.name}" already exists') from None

    def delete(self, name: str) -> None:
        """Forget a target."""
        self.get(name)
        with self.conn:
            self.conn.execute("DELETE FROM replication_targets WHERE name = ?", (name,))
