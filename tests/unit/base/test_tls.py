"""Certificates and add tokens shaped like Incus's (shared/tls)."""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pincus.base import tls


def test_server_pair_is_p384_self_signed_with_host_names(tmp_path: Path) -> None:
    cert_path, key_path = tls.ensure_server_pair(tmp_path)
    assert key_path.stat().st_mode & 0o777 == 0o600
    assert key_path.read_text().startswith("-----BEGIN EC PRIVATE KEY-----")
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey) and cert.public_key().curve.name == "secp384r1"
    assert cert.issuer == cert.subject
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Linux Containers"
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value.endswith("@" + socket.gethostname())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert socket.gethostname() in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    before = cert_path.read_bytes()
    tls.ensure_server_pair(tmp_path)
    assert cert_path.read_bytes() == before  # generated once


def test_fingerprint_is_sha256_of_der_from_pem_or_der(tmp_path: Path) -> None:
    cert, _ = tls.generate_pair(client=True)
    der = tls.pem_to_der(cert)
    assert tls.fingerprint(cert) == tls.fingerprint(der) == tls.fingerprint(tls.der_to_pem(der))
    pem, common_name = tls.parse_der(der)
    assert pem == tls.der_to_pem(der) and "@" in common_name
    with pytest.raises(ValueError, match="Invalid certificate material"):
        tls.parse_der(b"not a certificate")
    with pytest.raises(ValueError):
        tls.pem_to_der("garbage")


def test_token_round_trip_and_validation() -> None:
    token = tls.AddToken("laptop", "ab" * 32, ["127.0.0.1:8443"], "cd" * 32)
    text = token.encode()
    assert json.loads(base64.b64decode(text)) == {
        "client_name": "laptop", "fingerprint": "ab" * 32, "addresses": ["127.0.0.1:8443"],
        "secret": "cd" * 32, "expires_at": "0001-01-01T00:00:00Z"}
    assert tls.decode_token(text) == token
    for missing in ("client_name", "addresses", "secret", "fingerprint"):
        doc = json.loads(base64.b64decode(text))
        doc[missing] = [] if missing == "addresses" else ""
        with pytest.raises(tls.TokenError, match="No .* in certificate add token"):
            tls.decode_token(base64.b64encode(json.dumps(doc).encode()).decode())
    for bad in ("https://10.0.0.1:8443", "10.0.0.1", "bm90IGpzb24="):
        with pytest.raises(tls.TokenError):
            tls.decode_token(bad)
