"""loginsite-keygen (the key tools themselves: tests/test_credentials.py)."""

from __future__ import annotations

import datetime
import os
import re
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from loginsite import credentials
from loginsite.scripts import keygen
from loginsite.settings import (
    SettingsError,
    load_private_key_pem,
    parse_public_url,
    parse_session_keys,
)

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
    key = credentials.load_private_key(pem)
    assert key.key_size == 2048

    cert = x509.load_pem_x509_certificate((out / "client-certificate.pem").read_bytes())
    assert credentials.certificate_matches_key(cert, key)
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


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://apply.example.gov", "must use https in this environment"),
        ("https://apply.example.gov/app", "must be a bare origin, with no path"),
        ("https://user@apply.example.gov", "must not carry credentials"),
        ("https://apply.example.gov/?x=1", "must not carry credentials, a query"),
    ],
)
def test_keygen_applies_the_apps_public_url_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, problem: str
) -> None:
    """Every URL the app would refuse as loginsite.public_url is refused here too."""
    with pytest.raises(SettingsError, match=re.escape(problem)):
        parse_public_url(url, allow_http=False)
    with pytest.raises(SystemExit):
        keygen.main(["--out", str(tmp_path), "--public-url", url])
    assert f"--public-url {problem}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_keygen_accepts_http_only_for_development(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        keygen.main(["--out", str(tmp_path / "a"), "--public-url", "http://localhost:6543"])
    assert "http is accepted only with --development" in capsys.readouterr().err
    argv = ["--out", str(tmp_path / "b"), "--public-url", "http://localhost:6543/"]
    assert keygen.main([*argv, "--development"]) == 0
    assert "redirect URI:              http://localhost:6543/auth/callback" in (
        capsys.readouterr().out
    )


def test_session_key_only_prints_a_new_entry_for_a_rotation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    entries = []
    for _ in range(2):
        assert keygen.main(["--session-key"]) == 0
        entries.append(capsys.readouterr().out.strip())
    assert list(tmp_path.iterdir()) == []  # nothing written
    assert entries[0] != entries[1]
    (key,) = parse_session_keys("x", entries[0])
    assert re.fullmatch(r"s\d{6}", key.kid)
    assert len(key.secret) == 32
    assert not key.verify_only
    # As stage 1 of a rotation writes it: the current key signs, the new one only verifies.
    old = f"old:{entries[1].partition(':')[2]}"
    ring = parse_session_keys("x", f"{old} {entries[0]}:verify")
    assert [(k.kid, k.verify_only) for k in ring] == [("old", False), (key.kid, True)]


@pytest.mark.parametrize("extra", [["--out", "keys"], ["--public-url", "https://a.example.gov"]])
def test_session_key_takes_no_file_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        keygen.main(["--session-key", *extra])
    assert exit_info.value.code == 2
    assert "--session-key" in capsys.readouterr().err


def test_keygen_prints_redirect_uris_below_the_sign_in_prefix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--out", str(tmp_path), "--public-url", "https://apply.example.gov"]
    assert keygen.main([*argv, "--auth-prefix", "/login-gov/"]) == 0
    printed = capsys.readouterr().out
    assert "redirect URI:              https://apply.example.gov/login-gov/callback" in printed
    assert "post-logout redirect URI:  https://apply.example.gov/login-gov/signed-out" in printed
    assert "loginsite.auth.prefix = /login-gov" in printed


def test_keygen_refuses_a_prefix_the_app_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        keygen.main(["--out", str(tmp_path), "--auth-prefix", "login-gov"])
    assert "--auth-prefix must be a path below the site's root" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
