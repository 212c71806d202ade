"""``loginsite-revoke``: reads the app's INI file and revokes through the shared Redis."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from loginsite.revocation.redis import RedisRevocationStore
from loginsite.scripts.revoke import main
from loginsite.settings import RevocationSettings, SessionKey
from tests.plugins.redis_server import RedisServer
from tests.plugins.session_keys import SECRET_1

PREFIX = "script-test:"
ALICE = "6f1c1b52-8a6e-4d0b-9a53-2b6f7d3c2e11"
BOB = "0b1f6a3e-2c4d-4e5f-8a9b-1c2d3e4f5a6b"
CAROL = "9e8d7c6b-5a49-4382-9716-a5b4c3d2e1f0"
SESSION = "Zr9W1Yk3pQ-x_8tUv2mN4a"

WriteIni = Callable[..., str]


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("key") / "client-private.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture
def write_ini(tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch) -> WriteIni:
    """Write a complete app INI file with the given revocation settings; returns its path."""
    for name in ("LOGINSITE_REVOCATION_STORE", "LOGINSITE_REVOCATION_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)

    def write(**revocation: str) -> str:
        lines = [
            "[app:main]",
            "use = egg:loginsite",
            "loginsite.environment = development",
            "loginsite.public_url = http://localhost:6543",
            f"loginsite.session.keys = k1:{SECRET_1}",
            "loginsite.session.secure = false",
            "loginsite.session.max_age = 3600",
            "loginsite.idp.issuer = http://127.0.0.1:9/",
            "loginsite.idp.client_id = urn:gov:gsa:openidconnect.profiles:sp:sso:test:loginsite",
            f"loginsite.idp.private_key = {key_file}",
            "loginsite.idp.allow_http = true",
            *(f"loginsite.revocation.{name} = {value}" for name, value in revocation.items()),
        ]
        path = tmp_path / "app.ini"
        path.write_text("\n".join(lines) + "\n")
        return str(path)

    return write


def redis_ini(write_ini, url: str) -> str:
    return write_ini(store="redis", redis_url=url, key_prefix=PREFIX, redis_timeout="0.5")


def reader(url: str, tmp_path: Path) -> RedisRevocationStore:
    """An app instance's store: same Redis, prefix and session key ring as the INI file."""
    secret = base64.urlsafe_b64decode(SECRET_1 + "=")
    settings = RevocationSettings(
        store="redis",
        redis_url=url,
        key_prefix=PREFIX,
        journal=tmp_path / "reader-journal.sqlite3",
        mac_keys=(SessionKey("k1", secret),),
    )
    store = RedisRevocationStore(settings)
    assert store.wait_until_synced(5)
    return store


@pytest.mark.redis
def test_revokes_users_and_sessions_for_every_server(
    write_ini: WriteIni,
    redis_server: RedisServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    config = redis_ini(write_ini, redis_server.url)
    signed_in_at = int(time.time())
    assert main([config, "--sub", ALICE, BOB.upper(), "--jti", SESSION]) == 0
    # Whenever main ran, a sign-in from the next whole second after it returned is later.
    later_sign_in = int(time.time()) + 1
    out = capsys.readouterr().out
    assert ALICE in out
    assert BOB in out  # as login.gov issues it: lower case
    store = reader(redis_server.url, tmp_path)
    try:
        assert store.is_revoked("any", ALICE, signed_in_at)
        assert store.is_revoked("any", BOB, signed_in_at)
        assert store.is_revoked(SESSION, CAROL, signed_in_at)
        assert not store.is_revoked("any", CAROL, signed_in_at)
        assert not store.is_revoked("any", ALICE, later_sign_in)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("argument", "words"),
    [
        (["--sub", "alice@example.gov"], ["is an email address", "Login.gov user ID"]),
        (["--sub", "alice"], ["is not a login.gov subject", "expected a UUID"]),
        (["--sub", ALICE[:-1]], ["is not a login.gov subject"]),
        (["--sub", "{" + ALICE + "}"], ["is not a login.gov subject"]),
        (["--jti", "anything"], ["is not a session id", "22 characters", "session_id="]),
        (["--jti", SESSION + "x"], ["is not a session id"]),
        (["--jti", SESSION[:-1] + "="], ["is not a session id"]),
        (["--sub", ALICE, "--jti", "x"], ["is not a session id"]),
    ],
)
def test_arguments_that_can_never_match_are_refused_and_nothing_is_revoked(
    write_ini: WriteIni, capsys: pytest.CaptureFixture[str], argument: list[str], words: list[str]
) -> None:
    """Refused before Redis is even contacted: there is none at this address."""
    config = redis_ini(write_ini, "redis://127.0.0.1:9/0")
    assert main([config, *argument]) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err
    assert "Nothing was revoked" in err


def test_subjects_and_session_ids_are_normalised_as_they_are_issued() -> None:
    from loginsite.scripts.revoke import checked_session_id, normalised_sub

    assert normalised_sub(f"  {ALICE.upper()} ") == ALICE
    assert checked_session_id(f" {SESSION}\n") == SESSION
    # A session id is case-sensitive: another case is another session, so it is kept.
    assert checked_session_id(SESSION.upper()) == SESSION.upper()


@pytest.mark.redis
def test_fails_when_redis_is_unreachable(
    write_ini: WriteIni, capsys: pytest.CaptureFixture[str]
) -> None:
    config = redis_ini(write_ini, "redis://127.0.0.1:9/0")
    assert main([config, "--jti", SESSION]) == 1
    assert "nothing was revoked" in capsys.readouterr().err


def test_memory_store_is_refused(write_ini: WriteIni, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([write_ini(store="memory"), "--sub", ALICE]) == 2
    assert "only works with loginsite.revocation.store = redis" in capsys.readouterr().err


def test_none_store_is_refused(write_ini: WriteIni, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([write_ini(store="none"), "--sub", ALICE]) == 2
    assert "cannot be revoked" in capsys.readouterr().err


def test_bad_settings_are_reported(write_ini: WriteIni, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([write_ini(store="redis"), "--sub", ALICE]) == 2  # no redis_url
    assert "loginsite.revocation.redis_url" in capsys.readouterr().err


def test_missing_config_file_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "missing.ini"), "--sub", ALICE]) == 2
    assert "missing.ini" in capsys.readouterr().err


def test_something_to_revoke_is_required(
    write_ini: WriteIni, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([write_ini(store="memory")]) == 2
    assert "--sub or --jti" in capsys.readouterr().err


def test_the_config_file_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err
