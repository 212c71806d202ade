"""``loginsite-revoke``: reads the app's INI file and revokes through the shared Redis."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from loginsite.revocation.redis import RedisRevocationStore
from loginsite.scripts.revoke import main
from loginsite.settings import RevocationSettings
from tests.plugins.redis_server import RedisServer
from tests.plugins.session_keys import SECRET_1

PREFIX = "script-test:"

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


def reader(url: str) -> RedisRevocationStore:
    settings = RevocationSettings(store="redis", redis_url=url, key_prefix=PREFIX)
    store = RedisRevocationStore(settings)
    assert store.wait_until_synced(5)
    return store


@pytest.mark.redis
def test_revokes_users_and_sessions_for_every_server(
    write_ini: WriteIni, redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = redis_ini(write_ini, redis_server.url)
    signed_in_at = int(time.time())
    assert main([config, "--sub", "alice", "bob", "--jti", "jti-1"]) == 0
    assert "alice" in capsys.readouterr().out
    store = reader(redis_server.url)
    try:
        assert store.is_revoked("any", "alice", signed_in_at)
        assert store.is_revoked("any", "bob", signed_in_at)
        assert store.is_revoked("jti-1", "carol", signed_in_at)
        assert not store.is_revoked("any", "carol", signed_in_at)
        assert not store.is_revoked("any", "alice", signed_in_at + 2)  # a later sign-in
    finally:
        store.close()
    ttl = redis_server.client().ttl(f"{PREFIX}sub:alice")
    assert 0 < ttl <= 3602  # kept for the session max age, not forever


@pytest.mark.redis
def test_fails_when_redis_is_unreachable(
    write_ini: WriteIni, capsys: pytest.CaptureFixture[str]
) -> None:
    config = redis_ini(write_ini, "redis://127.0.0.1:9/0")
    assert main([config, "--jti", "jti-1"]) == 1
    assert "nothing was revoked" in capsys.readouterr().err


def test_memory_store_is_refused(write_ini: WriteIni, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([write_ini(store="memory"), "--sub", "alice"]) == 2
    assert "only works with loginsite.revocation.store = redis" in capsys.readouterr().err


def test_none_store_is_refused(write_ini: WriteIni, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([write_ini(store="none"), "--sub", "alice"]) == 2
    assert "cannot be revoked" in capsys.readouterr().err


def test_bad_settings_are_reported(write_ini: WriteIni, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([write_ini(store="redis"), "--sub", "alice"]) == 2  # no redis_url
    assert "loginsite.revocation.redis_url" in capsys.readouterr().err


def test_missing_config_file_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "missing.ini"), "--sub", "alice"]) == 2
    assert "missing.ini" in capsys.readouterr().err


def test_something_to_revoke_is_required(
    write_ini: WriteIni, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([write_ini(store="memory")]) == 2
    assert "--sub or --jti" in capsys.readouterr().err


def test_the_config_file_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err
