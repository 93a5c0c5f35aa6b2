"""The daemon's state in SQLite (WAL): one Store per daemon, used from the event loop thread."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pincus.base.errors import Conflict, NotFound
from pincus.db.records import ImageRecord, InstanceRecord, PoolRecord, ProfileRecord, SnapshotRecord
from pincus.db.schema import migrate

R = TypeVar("R")

# Timestamps are stored fixed-width in UTC so that text order is time order.
DB_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
DB_ZERO_TIME = "0001-01-01T00:00:00.000000Z"


def db_time(dt: datetime | None) -> str:
    """A datetime (aware; None for "never") in the stored form."""
    if dt is None:
        return DB_ZERO_TIME
    return dt.astimezone(UTC).strftime(DB_TIME_FORMAT)


def from_db_time(value: str) -> datetime | None:
    """The stored form back to an aware UTC datetime; None for the zero time."""
    if value == DB_ZERO_TIME:
        return None
    return datetime.strptime(value, DB_TIME_FORMAT).replace(tzinfo=UTC)
_JSON_FIELDS = {"config", "devices", "profiles", "properties"}
_BOOL_FIELDS = {"ephemeral", "stateful", "public", "auto_update", "split", "scheduled"}


def _to_row(rec: Any) -> dict[str, Any]:
    row = {}
    for f in fields(rec):
        if f.name == "id":
            continue
        value = getattr(rec, f.name)
        if f.name in _JSON_FIELDS:
            value = json.dumps(value, sort_keys=True)
        elif f.name in _BOOL_FIELDS:
            value = int(value)
        row[f.name] = value
    return row


def _from_row(cls: type[R], row: sqlite3.Row) -> R:
    kwargs: dict[str, Any] = {}
    for key in row.keys():
        value = row[key]
        if key in _JSON_FIELDS:
            value = json.loads(value)
        elif key in _BOOL_FIELDS:
            value = bool(value)
        kwargs[key] = value
    return cls(**kwargs)


class Store:
    """Typed access to every table; raises NotFound/Conflict from base.errors."""

    def __init__(self, path: Path | str) -> None:
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA busy_timeout=5000")
        self.version = migrate(self.conn)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one transaction (IMMEDIATE: writers are serialised)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # generic helpers -------------------------------------------------------------------------

    def _insert(self, table: str, rec: Any) -> int:
        row = _to_row(rec)
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        try:
            cur = self.conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(row.values()))
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"{table} entry already exists") from exc
        rec.id = int(cur.lastrowid or 0)
        return rec.id

    def _update(self, table: str, rec: Any) -> None:
        row = _to_row(rec)
        sets = ", ".join(f"{k} = ?" for k in row)
        self.conn.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*row.values(), rec.id])

    def _one(self, cls: type[R], sql: str, args: tuple[Any, ...], missing: str) -> R:
        row = self.conn.execute(sql, args).fetchone()
        if row is None:
            raise NotFound(missing)
        return _from_row(cls, row)

    def _all(self, cls: type[R], sql: str, args: tuple[Any, ...] = ()) -> list[R]:
        return [_from_row(cls, r) for r in self.conn.execute(sql, args).fetchall()]

    # server config ---------------------------------------------------------------------------

    def get_config(self) -> dict[str, str]:
        """The server configuration keys."""
        return {r["key"]: r["value"] for r in self.conn.execute("SELECT key, value FROM config")}

    def set_config(self, config: dict[str, str]) -> None:
        """Replace the server configuration."""
        with self.transaction() as c:
            c.execute("DELETE FROM config")
            c.executemany("INSERT INTO config (key, value) VALUES (?, ?)", sorted(config.items()))

    # storage pools ---------------------------------------------------------------------------

    def create_pool(self, rec: PoolRecord) -> int:
        """Insert a pool row."""
        try:
            return self._insert("storage_pools", rec)
        except Conflict:
            raise Conflict(f"Storage pool {rec.name!r} already exists".replace("'", '"')) from None

    def get_pool(self, name: str) -> PoolRecord:
        """One pool by name."""
        return self._one(PoolRecord, "SELECT * FROM storage_pools WHERE name = ?", (name,), "Storage pool not found")

    def pools(self) -> list[PoolRecord]:
        """Every pool."""
        return self._all(PoolRecord, "SELECT * FROM storage_pools ORDER BY name")

    def update_pool(self, rec: PoolRecord) -> None:
        """Write a pool row back."""
        self._update("storage_pools", rec)

    def delete_pool(self, name: str) -> None:
        """Delete a pool row."""
        self.conn.execute("DELETE FROM storage_pools WHERE name = ?", (name,))

    # profiles --------------------------------------------------------------------------------

    def create_profile(self, rec: ProfileRecord) -> int:
        """Insert a profile row."""
        try:
            return self._insert("profiles", rec)
        except Conflict:
            raise Conflict(f'Profile "{rec.name}" already exists') from None

    def get_profile(self, name: str) -> ProfileRecord:
        """One profile by name."""
        return self._one(ProfileRecord, "SELECT * FROM profiles WHERE name = ?", (name,), "Profile not found")

    def profiles(self) -> list[ProfileRecord]:
        """Every profile."""
        return self._all(ProfileRecord, "SELECT * FROM profiles ORDER BY name")

    def update_profile(self, rec: ProfileRecord) -> None:
        """Write a profile row back."""
        self._update("profiles", rec)

    def delete_profile(self, name: str) -> None:
        """Delete a profile row."""
        self.conn.execute("DELETE FROM profiles WHERE name = ?", (name,))

    # images ----------------------------------------------------------------------------------

    def create_image(self, rec: ImageRecord) -> int:
        """Insert an image row."""
        try:
            return self._insert("images", rec)
        except Conflict:
            raise Conflict("Image with same fingerprint already exists") from None

    def get_image(self, fingerprint: str) -> ImageRecord:
        """One image by fingerprint or unique fingerprint prefix."""
        rows = self._all(ImageRecord, "SELECT * FROM images WHERE fingerprint LIKE ? || '%'", (fingerprint,))
        if len(rows) != 1 or not fingerprint:
            raise NotFound("Image not found")
        return rows[0]

    def images(self) -> list[ImageRecord]:
        """Every image."""
        return self._all(ImageRecord, "SELECT * FROM images ORDER BY fingerprint")

    def update_image(self, rec: ImageRecord) -> None:
        """Write an image row back."""
        self._update("images", rec)

    def delete_image(self, fingerprint: str) -> None:
        """Delete an image row and its aliases."""
        self.conn.execute("DELETE FROM images WHERE fingerprint = ?", (fingerprint,))

    def aliases(self) -> list[tuple[str, str, str]]:
        """Every alias as (name, fingerprint, description)."""
        rows = self.conn.execute("SELECT name, fingerprint, description FROM image_aliases ORDER BY name")
        return [(r[0], r[1], r[2]) for r in rows]

    def get_alias(self, name: str) -> tuple[str, str, str]:
        """One alias as (name, fingerprint, description)."""
        row = self.conn.execute(
            "SELECT name, fingerprint, description FROM image_aliases WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise NotFound("Image alias not found")
        return (row[0], row[1], row[2])

    def create_alias(self, name: str, fingerprint: str, description: str = "") -> None:
        """Point a new alias at an image."""
        try:
            self.conn.execute(
                "INSERT INTO image_aliases (name, fingerprint, description) VALUES (?, ?, ?)",
                (name, fingerprint, description),
            )
        except sqlite3.IntegrityError:
            raise Conflict("Alias already exists") from None

    def update_alias(self, name: str, fingerprint: str, description: str) -> None:
        """Repoint or redescribe an alias."""
        self.conn.execute(
            "UPDATE image_aliases SET fingerprint = ?, description = ? WHERE name = ?",
            (fingerprint, description, name),
        )

    def rename_alias(self, name: str, new_name: str) -> None:
        """Rename an alias."""
        try:
            self.conn.execute("UPDATE image_aliases SET name = ? WHERE name = ?", (new_name, name))
        except sqlite3.IntegrityError:
            raise Conflict("Alias with this name already exists") from None

    def delete_alias(self, name: str) -> None:
        """Delete an alias."""
        self.conn.execute("DELETE FROM image_aliases WHERE name = ?", (name,))

    # instances -------------------------------------------------------------------------------

    def create_instance(self, rec: InstanceRecord) -> int:
        """Insert an instance row."""
        try:
            return self._insert("instances", rec)
        except Conflict:
            raise Conflict(f'Instance "{rec.name}" already exists') from None

    def get_instance(self, name: str) -> InstanceRecord:
        """One ready instance by name."""
        return self._one(
            InstanceRecord,
            "SELECT * FROM instances WHERE name = ? AND pending = 0",
            (name,),
            f'Failed to fetch instance "{name}" in project "default": Instance not found',
        )

    def instances(self, include_pending: bool = False) -> list[InstanceRecord]:
        """Every instance (ready ones unless include_pending)."""
        where = "" if include_pending else "WHERE pending = 0"
        return self._all(InstanceRecord, f"SELECT * FROM instances {where} ORDER BY name")

    def instance_config_rows(self) -> list[tuple[int, str, str, str]]:
        """``(id, name, config JSON, profiles JSON)`` of the ready instances, sorted by name: one cheap
        query for a caller that polls every minute (the scheduler) and decodes only what changed."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT id, name, config, profiles FROM instances WHERE pending = 0 ORDER BY name")]

    def unsettled_instances(self) -> list[InstanceRecord]:
        """Ready instances whose interrupted change recovery could not settle (polled every minute)."""
        return self._all(InstanceRecord, "SELECT * FROM instances WHERE pending = 0 AND error != '' ORDER BY name")

    def instance_names(self) -> list[str]:
        """Names of the ready instances, sorted."""
        return [r[0] for r in self.conn.execute("SELECT name FROM instances WHERE pending = 0 ORDER BY name")]

    def update_instance(self, rec: InstanceRecord) -> None:
        """Write an instance row back."""
        try:
            self._update("instances", rec)
        except sqlite3.IntegrityError:
            raise Conflict(f'Instance "{rec.name}" already exists') from None

    def delete_instance(self, instance_id: int) -> None:
        """Delete an instance row and, by cascade, its snapshot rows."""
        self.conn.execute("DELETE FROM instances WHERE id = ?", (instance_id,))

    # snapshots -------------------------------------------------------------------------------

    def create_snapshot(self, rec: SnapshotRecord, instance_name: str) -> int:
        """Insert a snapshot row."""
        try:
            return self._insert("snapshots", rec)
        except Conflict:
            raise Conflict(f"Snapshot \"{rec.name}\" of instance \"{instance_name}\" already exists") from None

    def get_snapshot(self, inst: InstanceRecord, name: str) -> SnapshotRecord:
        """One ready snapshot of an instance by bare name."""
        return self._one(
            SnapshotRecord,
            "SELECT * FROM snapshots WHERE instance_id = ? AND name = ? AND pending = 0",
            (inst.id, name),
            f'Failed to fetch snapshot "{name}" of instance "{inst.name}" in project "default": '
            "Instance_snapshot not found",
        )

    def snapshot_exists(self, instance_id: int, name: str) -> bool:
        """True when a snapshot row (of any state) has that name."""
        row = self.conn.execute(
            "SELECT 1 FROM snapshots WHERE instance_id = ? AND name = ?", (instance_id, name)
        ).fetchone()
        return row is not None

    def snapshots(self, instance_id: int, include_pending: bool = False) -> list[SnapshotRecord]:
        """The snapshots of an instance, oldest first."""
        where = "" if include_pending else "AND pending = 0"
        return self._all(
            SnapshotRecord,
            f"SELECT * FROM snapshots WHERE instance_id = ? {where} ORDER BY created_at, id",
            (instance_id,),
        )

    def all_snapshots(self) -> dict[int, list[SnapshotRecord]]:
        """Ready snapshots of every instance, keyed by instance id, oldest first (one query)."""
        out: dict[int, list[SnapshotRecord]] = {}
        for rec in self._all(SnapshotRecord, "SELECT * FROM snapshots WHERE pending = 0 ORDER BY created_at, id"):
            out.setdefault(rec.instance_id, []).append(rec)
        return out

    def pending_snapshots(self) -> list[SnapshotRecord]:
        """Snapshots left half-created or half-deleted by a crash."""
        return self._all(SnapshotRecord, "SELECT * FROM snapshots WHERE pending != 0")

    def next_expiry(self) -> str | None:
        """The earliest expiry among ready snapshots (db_time), or None."""
        row = self.conn.execute(
            "SELECT MIN(expires_at) FROM snapshots WHERE pending = 0 AND expires_at != ?", (DB_ZERO_TIME,)
        ).fetchone()
        return row[0] if row and row[0] else None

    def expired_snapshots(self, now: str) -> list[SnapshotRecord]:
        """Ready snapshots whose expiry is set and not after ``now`` (a db_time string)."""
        return self._all(
            SnapshotRecord,
            "SELECT * FROM snapshots WHERE pending = 0 AND expires_at != ? AND expires_at <= ? ORDER BY expires_at",
            (DB_ZERO_TIME, now),
        )

    def update_snapshot(self, rec: SnapshotRecord) -> None:
        """Write a snapshot row back."""
        try:
            self._update("snapshots", rec)
        except sqlite3.IntegrityError:
            raise Conflict(f'Snapshot "{rec.name}" already exists') from None

    def delete_snapshot(self, snapshot_id: int) -> None:
        """Delete a snapshot row."""
        self.conn.execute("DELETE FROM snapshots WHERE id = ?", (snapshot_id,))
