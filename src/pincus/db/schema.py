"""SQLite schema as an append-only list of migrations; the version lives in PRAGMA user_version."""

from __future__ import annotations

import hashlib
import sqlite3

# Never edit a shipped migration: append a new one.
MIGRATIONS: list[str] = [
    # 1: initial schema
    """
    CREATE TABLE config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE storage_pools (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        driver TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        config TEXT NOT NULL DEFAULT '{}',
        pending INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE profiles (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        config TEXT NOT NULL DEFAULT '{}',
        devices TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE images (
        id INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL UNIQUE,
        filename TEXT NOT NULL DEFAULT '',
        size INTEGER NOT NULL DEFAULT 0,
        architecture TEXT NOT NULL DEFAULT 'x86_64',
        type TEXT NOT NULL DEFAULT 'container',
        public INTEGER NOT NULL DEFAULT 0,
        auto_update INTEGER NOT NULL DEFAULT 0,
        properties TEXT NOT NULL DEFAULT '{}',
        split INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        uploaded_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        last_used_at TEXT NOT NULL
    );
    CREATE TABLE image_aliases (
        name TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL REFERENCES images(fingerprint) ON DELETE CASCADE,
        description TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE instances (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL DEFAULT 'container',
        architecture TEXT NOT NULL DEFAULT 'x86_64',
        ephemeral INTEGER NOT NULL DEFAULT 0,
        stateful INTEGER NOT NULL DEFAULT 0,
        description TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        last_used_at TEXT NOT NULL,
        config TEXT NOT NULL DEFAULT '{}',
        devices TEXT NOT NULL DEFAULT '{}',
        profiles TEXT NOT NULL DEFAULT '[]',
        pool TEXT NOT NULL,
        pending INTEGER NOT NULL DEFAULT 0,
        pending_restore TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE snapshots (
        id INTEGER PRIMARY KEY,
        instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        last_used_at TEXT NOT NULL,
        stateful INTEGER NOT NULL DEFAULT 0,
        architecture TEXT NOT NULL DEFAULT 'x86_64',
        ephemeral INTEGER NOT NULL DEFAULT 0,
        description TEXT NOT NULL DEFAULT '',
        config TEXT NOT NULL DEFAULT '{}',
        devices TEXT NOT NULL DEFAULT '{}',
        profiles TEXT NOT NULL DEFAULT '[]',
        pending INTEGER NOT NULL DEFAULT 0,
        UNIQUE (instance_id, name)
    );
    CREATE INDEX snapshots_expiry ON snapshots (expires_at);
    """,
    # 2: trust store (TLS client certificates) and pending certificate add tokens
    """
    CREATE TABLE certificates (
        id INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL DEFAULT 'client',
        name TEXT NOT NULL,
        certificate TEXT NOT NULL,
        restricted INTEGER NOT NULL DEFAULT 0,
        projects TEXT NOT NULL DEFAULT '[]',
        description TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE certificate_tokens (
        id INTEGER PRIMARY KEY,
        secret TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        type TEXT NOT NULL DEFAULT 'client',
        restricted INTEGER NOT NULL DEFAULT 0,
        projects TEXT NOT NULL DEFAULT '[]',
        description TEXT NOT NULL DEFAULT ''
    );
    """,
    # 3: which snapshots the scheduler made (retention prunes only those)
    """
    ALTER TABLE snapshots ADD COLUMN scheduled INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: servers this daemon replicates instances to (snapshots.replicate.target names one)
    """
    CREATE TABLE replication_targets (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        address TEXT NOT NULL,
        certificate TEXT NOT NULL
    );
    """,
    # 5: the journal of multi-step changes (restores, renames) that recovery settles after a crash,
    # and an instance's unsettled recovery error; an earlier version's pending restore becomes an
    # entry that redoes the whole restore, as that version's recovery did
    """
    CREATE TABLE journal (
        id INTEGER PRIMARY KEY,
        instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        phase TEXT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}'
    );
    ALTER TABLE instances ADD COLUMN error TEXT NOT NULL DEFAULT '';
    INSERT INTO journal (instance_id, kind, phase, data)
        SELECT id, 'restore', 'redo', pending_restore FROM instances WHERE pending_restore != '';
    ALTER TABLE instances DROP COLUMN pending_restore;
    """,
    # 6: certificate add tokens keep only the sha256 of their secret (anyone reading the file
    # could otherwise redeem a pending token); pincus_sha256 is registered by migrate()
    """
    ALTER TABLE certificate_tokens RENAME COLUMN secret TO secret_hash;
    UPDATE certificate_tokens SET secret_hash = pincus_sha256(secret_hash);
    """,
]

# Values of the ``pending`` columns: a row being created, or being deleted. Recovery at daemon
# start finishes deletions and undoes creations, so a crash never leaves a half-made object.
READY = 0
CREATING = 1
DELETING = 2


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations the database lacks; return the resulting schema version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise RuntimeError(f"Database schema {version} is newer than this pincusd ({len(MIGRATIONS)})")
    conn.create_function("pincus_sha256", 1, sha256_hex, deterministic=True)
    for number in range(version, len(MIGRATIONS)):
        with conn:
            conn.executescript("BEGIN;" + MIGRATIONS[number] + f";PRAGMA user_version = {number + 1};COMMIT;")
    if version < len(MIGRATIONS):
        # Old row versions (a clear token secret, say) must not survive in the WAL or free pages.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return len(MIGRATIONS)


def sha256_hex(text: str) -> str:
    """The hex sha256 of a text (how token secrets are stored)."""
    return hashlib.sha256(text.encode()).hexdigest()
