"""The shared key and certificate tools in loginsite.credentials."""

from __future__ import annotations

import datetime
import os
import stat
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from loginsite import credentials
from loginsite.settings import parse_session_keys


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_secret_file_is_private_and_exclusive(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        credentials.write_secret_file(tmp_path / "secret", b"data")
    finally:
        os.umask(old)
    assert mode(tmp_path / "secret") == 0o600
    assert (tmp_path / "secret").read_bytes() == b"data"
    with pytest.raises(FileExistsError):
        credentials.write_secret_file(tmp_path / "secret", "other")
    assert (tmp_path / "secret").read_bytes() == b"data"
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(FileExistsError):
        credentials.write_secret_file(tmp_path / "link", "data")
    assert not (tmp_path / "target").exists()


def test_write_public_file(tmp_path: Path) -> None:
    credentials.write_public_file(tmp_path / "cert.pem", "text")
    assert mode(tmp_path / "cert.pem") & 0o077 in (0o044, 0o004, 0o040, 0)
    with pytest.raises(FileExistsError):
        credentials.write_public_file(tmp_path / "cert.pem", "text")


def test_generated_keys_are_strong_and_distinct() -> None:
    with pytest.raises(ValueError, match="2048"):
        credentials.generate_client_key(1024)
    first = credentials.new_session_key_entry(datetime.date(2025, 1, 31))
    second = credentials.new_session_key_entry(datetime.date(2025, 1, 31))
    assert first.startswith("s250131:")
    assert first != second
    assert len(parse_session_keys("x", f"{first}")) == 1


def test_certificate_and_jwk_helpers(client_private_key: rsa.RSAPrivateKey) -> None:
    cert = credentials.self_signed_certificate(client_private_key, "example", days=2)
    assert credentials.certificate_matches_key(cert, client_private_key)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert not credentials.certificate_matches_key(cert, other)
    with pytest.raises(ValueError, match="days"):
        credentials.self_signed_certificate(client_private_key, "example", days=0)
    assert credentials.certificate_pem(cert).startswith(b"-----BEGIN CERTIFICATE-----")

    public = client_private_key.public_key()
    entry = credentials.public_jwk(public)
    assert entry["kid"] == credentials.jwk_thumbprint(public)
    assert credentials.public_jwk(public, "k1")["kid"] == "k1"
    assert jwt.PyJWK(entry).key.public_numbers() == public.public_numbers()
    assert credentials.jwk_thumbprint(other.public_key()) != entry["kid"]


def test_jwk_thumbprint_matches_rfc_7638() -> None:
    # The example key of RFC 7638 section 3.1.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJE"
        "CPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2"
        "QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQF"
        "h6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    public = jwt.PyJWK({"kty": "RSA", "n": n, "e": "AQAB"}).key
    assert credentials.jwk_thumbprint(public) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
