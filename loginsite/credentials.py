"""Creating the keys and files loginsite needs: one place, used by keygen, devsetup and devidp.

* :func:`generate_client_key` - the RSA key the app signs its login.gov client assertions with;
* :func:`self_signed_certificate` - the X.509 certificate to upload in login.gov's partner portal;
* :func:`new_session_key_entry` - a fresh ``KID:SECRET`` entry for the session key ring;
* :func:`write_secret_file` - write a file readable by its owner only, never replacing one.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

__all__ = [
    "certificate_matches_key",
    "certificate_pem",
    "generate_client_key",
    "jwk_thumbprint",
    "load_private_key",
    "new_session_key_entry",
    "private_key_pem",
    "public_jwk",
    "self_signed_certificate",
    "write_public_file",
    "write_secret_file",
]

RSA_BITS = 2048


def generate_client_key(key_size: int = RSA_BITS) -> rsa.RSAPrivateKey:
    """A new RSA private key (login.gov wants at least 2048 bits)."""
    if key_size < RSA_BITS:
        raise ValueError(f"RSA keys must have at least {RSA_BITS} bits")
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM (protect it with file permissions: see write_secret_file)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def self_signed_certificate(
    key: rsa.RSAPrivateKey, common_name: str, days: int = 365
) -> x509.Certificate:
    """A self-signed certificate for ``key``, valid from now for ``days`` days."""
    if days < 1:
        raise ValueError("days must be at least 1")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64] or "loginsite")])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def certificate_matches_key(certificate: x509.Certificate, key: rsa.RSAPrivateKey) -> bool:
    cert_key = certificate.public_key()
    return (
        isinstance(cert_key, rsa.RSAPublicKey)
        and cert_key.public_numbers() == key.public_key().public_numbers()
    )


def new_session_key_entry(today: datetime.date | None = None) -> str:
    """``KID:SECRET``: kid ``s`` + today's date as YYMMDD, secret 32 random bytes base64url.

    The kid rides in every session cookie: short, yet it still tells an operator the key's age.
    """
    today = today or datetime.datetime.now(datetime.UTC).date()
    return f"s{today:%y%m%d}:{secrets.token_urlsafe(32)}"


def _write_new_file(path: Path, data: bytes | str, mode: int) -> None:
    payload = data.encode() if isinstance(data, str) else data
    # O_EXCL: never replace (or follow a symlink to) an existing file.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have removed bits; never adds any beyond ``mode``
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(payload)
    finally:
        if fd != -1:
            os.close(fd)


def write_secret_file(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Create ``path`` with mode 0600; raises FileExistsError if anything is already there."""
    _write_new_file(Path(path), data, 0o600)


def write_public_file(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Create ``path`` with mode 0644 (certificates); raises FileExistsError if it exists."""
    _write_new_file(Path(path), data, 0o644)


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwk_thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url): a stable ``kid`` for the key."""
    numbers = public_key.public_numbers()
    canonical = json.dumps(
        {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)},
        separators=(",", ":"),
        sort_keys=True,
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def public_jwk(public_key: rsa.RSAPublicKey, kid: str | None = None) -> dict[str, Any]:
    """The public half as a JWKS entry for RS256 signatures."""
    numbers = public_key.public_numbers()
    return {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid or jwk_thumbprint(public_key),
        "n": _b64url_uint(numbers.n),
        "e": _b64url_uint(numbers.e),
    }
