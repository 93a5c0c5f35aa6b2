"""The trust store tables (schema migration 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pincus.base.errors import Conflict, NotFound
from pincus.db.schema import MIGRATIONS, migrate
from pincus.db.store import DB_ZERO_TIME, Store
from pincus.db.trust import CertificateRecord, TokenRecord, TrustStore, hash_secret


@pytest.fixture
def trust(tmp_path: Path) -> TrustStore:
    return TrustStore(Store(tmp_path / "t.db"))


def test_certificates_by_fingerprint_and_prefix(trust: TrustStore) -> None:
    trust.add(CertificateRecord("aa11" + "0" * 60, "one", "PEM1", projects=["default"]))
    trust.add(CertificateRecord("aa22" + "0" * 60, "two", "PEM2", restricted=True))
    with pytest.raises(Conflict, match="Certificate already in trust store"):
        trust.add(CertificateRecord("aa11" + "0" * 60, "dup", "PEM1"))
    assert trust.get("aa1").name == "one" and trust.get("AA2").restricted is True
    with pytest.raises(Conflict, match="More than one certificate matches"):
        trust.get("aa")
    with pytest.raises(NotFound, match="Certificate not found"):
        trust.get("bb")
    with pytest.raises(NotFound):
        trust.get("")
    assert trust.lookup("aa11") is None and trust.lookup("aa11" + "0" * 60).projects == ["default"]
    rec = trust.get("aa1")
    rec.name, rec.description = "renamed", "laptop"
    trust.update(rec.fingerprint, rec)
    assert [c.to_api()["name"] for c in trust.certificates()] == ["renamed", "two"]
    trust.remove(rec.fingerprint)
    assert [c.name for c in trust.certificates()] == ["two"]


def test_tokens_are_single_use(trust: TrustStore) -> None:
    trust.add_token(TokenRecord(hash_secret("s" * 64), "laptop", "2026-01-01T00:00:00.000000Z"))
    assert [t.name for t in trust.tokens()] == ["laptop"] and not trust.tokens()[0].expires
    taken = trust.take_token("s" * 64)
    assert taken is not None and taken.expires_at == DB_ZERO_TIME
    assert trust.take_token("s" * 64) is None and trust.tokens() == []


def test_only_the_hash_of_a_token_secret_is_stored(tmp_path: Path) -> None:
    store = Store(tmp_path / "t.db")
    secret = "5ec2e7" * 10 + "abcd"
    TrustStore(store).add_token(TokenRecord(hash_secret(secret), "laptop", "2026-01-01T00:00:00.000000Z"))
    assert TrustStore(store).take_token("0" * 64) is None  # a wrong secret takes nothing
    assert TrustStore(store).tokens()[0].secret_hash == hash_secret(secret) != secret
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert secret.encode() not in on_disk
    assert TrustStore(store).take_token(secret) is not None


def test_migration_hashes_the_clear_secrets_of_an_older_database(tmp_path: Path) -> None:
    """A database of a pincusd before schema 5 held clear secrets; none survives the upgrade, in
    the database file or its WAL, and the old token still redeems with its secret."""
    import sqlite3

    db = tmp_path / "old.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # leave the clear row in the WAL, as a crash would
    before = MIGRATIONS.index(next(m for m in MIGRATIONS if "secret_hash" in m))
    for number in range(before):
        conn.executescript("BEGIN;" + MIGRATIONS[number] + f";PRAGMA user_version = {number + 1};COMMIT;")
    secret = "c1ea7" * 12 + "beef"
    conn.execute("INSERT INTO certificate_tokens (secret, name, created_at, expires_at) VALUES (?, 'old', ?, ?)",
                 (secret, "2026-01-01T00:00:00.000000Z", DB_ZERO_TIME))
    assert secret.encode() in b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert migrate(conn) == len(MIGRATIONS)
    assert secret.encode() not in b"".join(p.read_bytes() for p in tmp_path.iterdir())
    conn.close()
    store = Store(db)
    taken = TrustStore(store).take_token(secret)
    assert taken is not None and taken.name == "old"
