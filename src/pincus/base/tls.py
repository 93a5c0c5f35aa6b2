"""Certificates the Incus way: ECDSA P-384 self-signed pairs, sha256 fingerprints, add tokens.

Used by the daemon (server.crt/server.key) and by the CLI (client.crt/client.key); pure
functions with no daemon state. ``cryptography`` is imported only when a pair is generated
or a certificate is parsed, so the CLI pays for it only on TLS work.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pincus.base.gotime import ZERO_TIME

VALIDITY = timedelta(days=10 * 365)


class TokenError(ValueError):
    """A string that is not a certificate add token."""


def pem_to_der(pem: str | bytes) -> bytes:
    """The DER bytes of the first certificate in a PEM text."""
    text = pem.decode("ascii", "replace") if isinstance(pem, bytes) else pem
    begin = text.find("-----BEGIN CERTIFICATE-----")
    end = text.find("-----END CERTIFICATE-----", begin)
    if begin < 0 or end < 0:
        raise ValueError("invalid certificate")
    body = text[begin + len("-----BEGIN CERTIFICATE-----") : end]
    try:
        return base64.b64decode("".join(body.split()), validate=True)
    except binascii.Error as exc:
        raise ValueError("invalid certificate") from exc


def der_to_pem(der: bytes) -> str:
    """A DER certificate as PEM text (64-column lines, like Go's pem.Encode)."""
    b64 = base64.b64encode(der).decode("ascii")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def fingerprint(cert: str | bytes) -> str:
    """The Incus fingerprint (hex sha256 of the DER) of a PEM text or DER bytes."""
    der = cert if isinstance(cert, bytes) and not cert.startswith(b"-----") else pem_to_der(cert)
    return hashlib.sha256(der).hexdigest()


def _user_name() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name or "UNKNOWN"
    except KeyError:
        return "UNKNOWN"


def generate_pair(client: bool, hosts: list[str] | None = None) -> tuple[bytes, bytes]:
    """A self-signed ECDSA P-384 certificate and key (PEM), shaped like Incus's GenerateMemCert."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Linux Containers"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"{_user_name()}@{socket.gethostname() or 'UNKNOWN'}"),
    ])
    now = datetime.now(timezone.utc)
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(int.from_bytes(os.urandom(16), "big") >> 1).not_valid_before(now)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )  # fmt: skip
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(key, hashes.SHA384())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def write_pair(cert_path: Path, key_path: Path, client: bool, hosts: list[str] | None = None) -> None:
    """Generate a pair into two files (the key is created 0600 before anything is written)."""
    cert, key = generate_pair(client, hosts)
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)  # a key file that was already there keeps its old mode through O_CREAT
    with os.fdopen(fd, "wb") as fobj:
        fobj.write(key)
    cert_path.write_bytes(cert)


def ensure_server_pair(root: Path) -> tuple[Path, Path]:
    """server.crt/server.key under root, generated on first use (SAN: hostname, 127.0.0.1, ::1)."""
    cert, key = root / "server.crt", root / "server.key"
    if not (cert.exists() and key.exists()):
        write_pair(cert, key, client=False, hosts=[socket.gethostname() or "localhost", "127.0.0.1", "::1"])
    return cert, key


def describe(pem: str) -> tuple[str, str, str]:
    """(subject common name, not-before, not-after as RFC 3339 UTC) of a PEM certificate."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    return (str(names[0].value) if names else "", cert.not_valid_before_utc.strftime(stamp),
            cert.not_valid_after_utc.strftime(stamp))


def parse_der(der: bytes) -> tuple[str, str]:
    """Check DER bytes are a currently valid X.509 certificate; return (PEM, subject common name)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise ValueError(f"Invalid certificate material: {exc}") from None
    now = datetime.now(timezone.utc)
    if now < cert.not_valid_before_utc:
        raise ValueError("The provided certificate isn't valid yet")
    if now > cert.not_valid_after_utc:
        raise ValueError("The provided certificate is expired")
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return der_to_pem(der), str(names[0].value) if names else ""


@dataclass
class AddToken:
    """api.CertificateAddToken: what ``config trust add`` prints and ``remote add`` consumes."""

    client_name: str
    fingerprint: str
    addresses: list[str] = field(default_factory=list)
    secret: str = ""
    expires_at: str = ZERO_TIME

    def encode(self) -> str:
        """base64 of the JSON object, in Go's field order."""
        doc = {"client_name": self.client_name, "fingerprint": self.fingerprint,
               "addresses": self.addresses, "secret": self.secret, "expires_at": self.expires_at}
        return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode("ascii")


def decode_token(text: str) -> AddToken:
    """Parse a certificate add token, with the checks of Incus's CertificateTokenDecode."""
    try:
        doc = json.loads(base64.b64decode(text.strip(), validate=True))
    except (binascii.Error, ValueError) as exc:
        raise TokenError(f"Invalid certificate add token: {exc}") from None
    if not isinstance(doc, dict):
        raise TokenError("Invalid certificate add token")
    token = AddToken(str(doc.get("client_name") or ""), str(doc.get("fingerprint") or ""),
                     [str(a) for a in doc.get("addresses") or []], str(doc.get("secret") or ""),
                     str(doc.get("expires_at") or ZERO_TIME))
    for ok, what in ((token.client_name, "client name"), (token.addresses, "server addresses"),
                     (token.secret, "secret"), (token.fingerprint, "certificate fingerprint")):
        if not ok:
            raise TokenError(f"No {what} in certificate add token")
    return token
