"""The trust store tables (schema migration 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pincus.core.errors import Conflict, NotFound
from pincus.db.store import DB_ZERO_TIME, Store
from pincus.db.trust import CertificateRecord, TokenRecord, TrustStore


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
    trust.add_token(TokenRecord("s" * 64, "laptop", "2026-01-01T00:00:00.000000Z"))
    assert [t.name for t in trust.tokens()] == ["laptop"] and not trust.tokens()[0].expires
    taken = trust.take_token("s" * 64)
    assert taken is not None and taken.expires_at == DB_ZERO_TIME
    assert trust.take_token("s" * 64) is None and trust.tokens() == []
