"""The trust store: trusted client certificates and pending certificate add tokens (schema 2).

A token's secret is never stored: only its sha256 (schema 5), so reading the database does not
let anyone redeem a pending token."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

from pincus.base.errors import Conflict, NotFound
from pincus.db.schema import sha256_hex
from pincus.db.store import DB_ZERO_TIME, Store


@dataclass
class CertificateRecord:
    """One trusted certificate (api.Certificate)."""

    fingerprint: str
    name: str
    certificate: str  # PEM
    type: str = "client"
    restricted: bool = False
    projects: list[str] = field(default_factory=list)
    description: str = ""

    def to_api(self) -> dict[str, object]:
        """The Incus Certificate object, in Go's field order."""
        return {"name": self.name, "type": self.type, "restricted": self.restricted,
                "projects": list(self.projects), "certificate": self.certificate,
                "description": self.description, "fingerprint": self.fingerprint}


@dataclass
class TokenRecord:
    """A pending certificate add token: single use, optionally expiring (db_time or zero)."""

    secret_hash: str  # sha256 hex of the secret (hash_secret)
    name: str
    created_at: str
    expires_at: str = DB_ZERO_TIME
    type: str = "client"
    restricted: bool = False
    projects: list[str] = field(default_factory=list)
    description: str = ""

    @property
    def expires(self) -> bool:
        """True when the token has an expiry date."""
        return self.expires_at != DB_ZERO_TIME


_CERT_COLS = "fingerprint, name, certificate, type, restricted, projects, description"
_TOKEN_COLS = "secret_hash, name, created_at, expires_at, type, restricted, projects, description"


def _cert(row: sqlite3.Row) -> CertificateRecord:
    return CertificateRecord(row["fingerprint"], row["name"], row["certificate"], row["type"],
                             bool(row["restricted"]), json.loads(row["projects"]), row["description"])


def _token(row: sqlite3.Row) -> TokenRecord:
    return TokenRecord(row["secret_hash"], row["name"], row["created_at"], row["expires_at"], row["type"],
                       bool(row["restricted"]), json.loads(row["projects"]), row["description"])


class TrustStore:
    """Typed access to the certificates and certificate_tokens tables of a Store."""

    def __init__(self, store: Store) -> None:
        self.conn = store.conn

    def certificates(self) -> list[CertificateRecord]:
        """Every trusted certificate, by name then fingerprint."""
        rows = self.conn.execute(f"SELECT {_CERT_COLS} FROM certificates ORDER BY name, fingerprint")
        return [_cert(r) for r in rows]

    def lookup(self, fingerprint: str) -> CertificateRecord | None:
        """The certificate with exactly this fingerprint, or None (the per-request trust check)."""
        row = self.conn.execute(
            f"SELECT {_CERT_COLS} FROM certificates WHERE fingerprint = ?", (fingerprint,)
        ).fetchone()
        return _cert(row) if row is not None else None

    def get(self, prefix: str) -> CertificateRecord:
        """One certificate by fingerprint or unique prefix, as Incus resolves them."""
        rows = []
        if prefix:
            rows = self.conn.execute(
                f"SELECT {_CERT_COLS} FROM certificates WHERE substr(fingerprint, 1, ?) = ?",
                (len(prefix), prefix.lower()),
            ).fetchall()
        if len(rows) > 1:
            raise Conflict("More than one certificate matches")
        if not rows:
            raise NotFound("Certificate not found")
        return _cert(rows[0])

    def add(self, rec: CertificateRecord) -> None:
        """Trust a certificate."""
        try:
            self.conn.execute(
                f"INSERT INTO certificates ({_CERT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (rec.fingerprint, rec.name, rec.certificate, rec.type, int(rec.restricted),
                 json.dumps(rec.projects), rec.description),
            )
        except sqlite3.IntegrityError:
            raise Conflict("Certificate already in trust store") from None

    def update(self, old_fingerprint: str, rec: CertificateRecord) -> None:
        """Replace a certificate's fields (the certificate itself may change)."""
        try:
            self.conn.execute(
                "UPDATE certificates SET fingerprint = ?, name = ?, certificate = ?, type = ?, restricted = ?, "
                "projects = ?, description = ? WHERE fingerprint = ?",
                (rec.fingerprint, rec.name, rec.certificate, rec.type, int(rec.restricted),
                 json.dumps(rec.projects), rec.description, old_fingerprint),
            )
        except sqlite3.IntegrityError:
            raise Conflict("Certificate already in trust store") from None

    def remove(self, fingerprint: str) -> None:
        """Stop trusting a certificate."""
        self.conn.execute("DELETE FROM certificates WHERE fingerprint = ?", (fingerprint,))

    def tokens(self) -> list[TokenRecord]:
        """Every pending token, oldest first."""
        rows = self.conn.execute(f"SELECT {_TOKEN_COLS} FROM certificate_tokens ORDER BY created_at, secret_hash")
        return [_token(r) for r in rows]

    def add_token(self, rec: TokenRecord) -> None:
        """Store a new pending token."""
        self.conn.execute(
            f"INSERT INTO certificate_tokens ({_TOKEN_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (rec.secret_hash, rec.name, rec.created_at, rec.expires_at, rec.type, int(rec.restricted),
             json.dumps(rec.projects), rec.description),
        )

    def take_token(self, secret: str) -> TokenRecord | None:
        """Remove and return the token with this secret (tokens are single use), or None."""
        return self.take_token_hash(hash_secret(secret))

    def take_token_hash(self, secret_hash: str) -> TokenRecord | None:
        """Remove and return the token whose secret has this hash, or None."""
        with_row = self.conn.execute(
            f"DELETE FROM certificate_tokens WHERE secret_hash = ? RETURNING {_TOKEN_COLS}", (secret_hash,)
        ).fetchone()
        return _token(with_row) if with_row is not None else None


def hash_secret(secret: str) -> str:
    """What the trust store keeps of a token secret: its sha256, hex."""
    return sha256_hex(secret)
