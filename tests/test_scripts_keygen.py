"""loginsite-keygen and the shared key tools in loginsite.keys."""

from __future__ import annotations

import datetime
import os
import re
import stat
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from loginsite import keys
from loginsite.scripts import keygen
from loginsite.settings import load_private_key_pem, parse_session_keys

FILES = ("client-private.pem", "client-certificate.pem", "session-keys")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_keygen_writes_key_certificate_and_session_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new" / "keys"
    assert keygen.main(["--out", str(out), "--public-url", "https://apply.example.gov/"]) == 0

    assert mode(out / "client-private.pem") == 0o600
    assert mode(out / "session-keys") == 0o600
    pem = load_private_key_pem("x", str(out / "client-private.pem"))  # the app accepts it
    key = keys.load_private_key(pem)
    assert key.key_size == 2048

    cert = x509.load_pem_x509_certificate((out / "client-certificate.pem").read_bytes())
    assert keys.certificate_matches_key(cert, key)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "apply.example.gov"
    assert cert.issuer == cert.subject
    lifetime = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert 364 <= lifetime.days <= 365

    (session_key,) = parse_session_keys("x", (out / "session-keys").read_text())
    assert re.fullmatch(r"s\d{6}", session_key.kid)
    assert len(session_key.secret) == 32

    printed = capsys.readouterr().out
    for words in (
        "https://apply.example.gov/auth/callback",
        "https://apply.example.gov/auth/signed-out",
        "LOGINSITE_SESSION_KEYS",
        "loginsite.session.keys_file",
        "loginsite.idp.private_key",
        "LOGINSITE_IDP_PRIVATE_KEY",
        "loginsite.idp.certificate",
        str(out.resolve() / "client-certificate.pem"),
    ):
        assert words in printed
    assert "PRIVATE KEY" not in printed  # the key itself is never printed


def test_keygen_days_and_default_name(tmp_path: Path) -> None:
    assert keygen.main(["--out", str(tmp_path), "--days", "30"]) == 0
    cert = x509.load_pem_x509_certificate((tmp_path / "client-certificate.pem").read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "loginsite"
    lifetime = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert 29 <= lifetime.days <= 30


@pytest.mark.parametrize("existing", FILES)
def test_keygen_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], existing: str
) -> None:
    (tmp_path / existing).write_text("keep me")
    assert keygen.main(["--out", str(tmp_path)]) == 1
    assert existing in capsys.readouterr().err
    assert (tmp_path / existing).read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]  # nothing else written


def test_keygen_refuses_a_dangling_symlink(tmp_path: Path) -> None:
    (tmp_path / "session-keys").symlink_to(tmp_path / "elsewhere")
    assert keygen.main(["--out", str(tmp_path)]) == 1
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize(
    "argv", [["--days", "0"], ["--public-url", "apply.example.gov"], ["--days", "x"]]
)
def test_keygen_rejects_bad_arguments(tmp_path: Path, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        keygen.main(["--out", str(tmp_path), *argv])
    assert exit_info.value.code == 2
    assert list(tmp_path.iterdir()) == []


# -- loginsite.keys ---------------------------------------------------------------------------


def test_write_secret_file_is_private_and_exclusive(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        keys.write_secret_file(tmp_path / "secret", b"data")
    finally:
        os.umask(old)
    assert mode(tmp_path / "secret") == 0o600
    assert (tmp_path / "secret").read_bytes() == b"data"
    with pytest.raises(FileExistsError):
        keys.write_secret_file(tmp_path / "secret", "other")
    assert (tmp_path / "secret").read_bytes() == b"data"
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(FileExistsError):
        keys.write_secret_file(tmp_path / "link", "data")
    assert not (tmp_path / "target").exists()


def test_write_public_file(tmp_path: Path) -> None:
    keys.write_public_file(tmp_path / "cert.pem", "text")
    assert mode(tmp_path / "cert.pem") & 0o077 in (0o044, 0o004, 0o040, 0)
    with pytest.raises(FileExistsError):
        keys.write_public_file(tmp_path / "cert.pem", "text")


def test_generated_keys_are_strong_and_distinct() -> None:
    with pytest.raises(ValueError, match="2048"):
        keys.generate_client_key(1024)
    first = keys.new_session_key_entry(datetime.date(2025, 1, 31))
    second = keys.new_session_key_entry(datetime.date(2025, 1, 31))
    assert first.startswith("s250131:")
    assert first != second
    assert len(parse_session_keys("x", f"{first}")) == 1


def test_certificate_and_jwk_helpers(client_private_key: rsa.RSAPrivateKey) -> None:
    cert = keys.self_signed_certificate(client_private_key, "example", days=2)
    assert keys.certificate_matches_key(cert, client_private_key)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert not keys.certificate_matches_key(cert, other)
    with pytest.raises(ValueError, match="days"):
        keys.self_signed_certificate(client_private_key, "example", days=0)
    assert keys.certificate_pem(cert).startswith(b"-----BEGIN CERTIFICATE-----")

    public = client_private_key.public_key()
    entry = keys.public_jwk(public)
    assert entry["kid"] == keys.jwk_thumbprint(public)
    assert keys.public_jwk(public, "k1")["kid"] == "k1"
    assert jwt.PyJWK(entry).key.public_numbers() == public.public_numbers()
    assert keys.jwk_thumbprint(other.public_key()) != entry["kid"]


def test_jwk_thumbprint_matches_rfc_7638() -> None:
    # The example key of RFC 7638 section 3.1.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJE"
        "CPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2"
        "QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQF"
        "h6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    public = jwt.PyJWK({"kty": "RSA", "n": n, "e": "AQAB"}).key
    assert keys.jwk_thumbprint(public) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
