"""Production safety: each risky setting is a loginsite-check FAIL and a start-up WARNING."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loginsite.operations.production_checks import is_loopback, production_risks
from loginsite.scripts import check
from loginsite.settings import app_settings
from tests.test_scripts_check import line, write_ini

SHARED = {
    "loginsite.revocation.store": "redis",
    "loginsite.revocation.redis_url": "redis://127.0.0.1:6379/0",
}


def production(settings: dict[str, str], **overrides: str) -> dict[str, str]:
    return {
        **settings,
        "loginsite.environment": "production",
        "loginsite.public_url": "https://apply.example.gov",
        "loginsite.session.secure": "true",
        "loginsite.idp.allow_http": "false",
        "loginsite.idp.issuer": "https://idp.example.gov/",
        **SHARED,
        **overrides,
    }


def risks(config: dict[str, str]) -> list[str]:
    return production_risks(app_settings(config, {}))


def test_a_sound_production_configuration_has_no_risk(settings: dict[str, str]) -> None:
    assert risks(production(settings)) == []


@pytest.mark.parametrize("store", ["memory", "none"])
def test_an_unshared_revocation_store_is_a_risk_unless_accepted(
    settings: dict[str, str], store: str
) -> None:
    (risk,) = risks(production(settings, **{"loginsite.revocation.store": store}))
    assert f"loginsite.revocation.store = {store}" in risk
    assert "loginsite.revocation.accept_unshared" in risk
    accepted = production(
        settings,
        **{"loginsite.revocation.store": store, "loginsite.revocation.accept_unshared": "true"},
    )
    assert risks(accepted) == []


def test_insecure_cookies_are_a_risk(settings: dict[str, str]) -> None:
    # secure = false also means plain http is refused for public_url in production: https stays.
    (risk,) = risks(production(settings, **{"loginsite.session.secure": "false"}))
    assert "loginsite.session.secure" in risk


def test_lifetimes_beyond_the_aal2_bounds_are_risks(settings: dict[str, str]) -> None:
    config = production(
        settings,
        **{"loginsite.session.max_age": str(365 * 86400), "loginsite.session.idle_timeout": "7200"},
    )
    found = risks(config)
    assert len(found) == 2
    assert "loginsite.session.max_age = 31536000" in found[0]
    assert "loginsite.session.idle_timeout = 7200" in found[1]
    at_bounds = {"loginsite.session.max_age": "43200", "loginsite.session.idle_timeout": "3600"}
    assert risks(production(settings, **at_bounds)) == []


@pytest.mark.parametrize(
    ("url", "risky"),
    [
        ("redis://10.0.0.5:6379/0", True),
        ("rediss://redis.internal:6380/0", True),  # TLS is not authentication
        ("redis://:s3cret-from-env@10.0.0.5:6379/0", False),
        ("redis://127.0.0.1:6379/0", False),
        ("redis://[::1]:6379/0", False),
        ("redis://localhost:6379/0", False),
        ("unix:///run/redis.sock", False),
    ],
)
def test_redis_without_a_password_off_loopback_is_a_risk(
    settings: dict[str, str], url: str, risky: bool
) -> None:
    found = risks(production(settings, **{"loginsite.revocation.redis_url": url}))
    assert bool(found) is risky
    if risky:
        assert "without a password" in found[0]
        assert "s3cret" not in found[0]


def test_remote_sentinels_need_passwords(settings: dict[str, str]) -> None:
    sentinels = {
        "loginsite.revocation.redis_url": "",
        "loginsite.revocation.sentinels": "10.0.0.7:26379 10.0.0.8:26379",
        "loginsite.revocation.sentinel_master": "loginsite",
    }
    found = risks(production(settings, **sentinels))
    assert len(found) == 2
    assert "loginsite.revocation.sentinel_password" in found[0]
    assert "loginsite.revocation.redis_password" in found[1]
    with_passwords = {
        **sentinels,
        "loginsite.revocation.sentinel_password": "from-env-1",
        "loginsite.revocation.redis_password": "from-env-2",
    }
    assert risks(production(settings, **with_passwords)) == []


def test_development_has_no_production_risks(settings: dict[str, str]) -> None:
    assert (
        production_risks(app_settings({**settings, **{"loginsite.session.max_age": "999999"}}, {}))
        == []
    )


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("10.0.0.1", False),
        ("redis", False),
        (None, False),
    ],
)
def test_loopback_addresses(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_loginsite_check_fails_on_each_risk(
    settings: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = production(settings, **{"loginsite.revocation.store": "none"})
    code = check.main([str(write_ini(tmp_path / "check.ini", config))])
    out = capsys.readouterr().out
    assert code == 1
    assert line(out, "production").startswith("FAIL")
    assert "loginsite.revocation.store = none revokes nothing" in line(out, "production")


def test_the_app_warns_at_start_up(
    make_app: Callable[..., Any], settings: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    config = production(
        settings,
        **{"loginsite.revocation.store": "memory", "loginsite.session.max_age": "86400"},
    )
    with caplog.at_level(logging.WARNING, logger="loginsite.operations"):
        make_app(**config)
    warnings = [r.getMessage() for r in caplog.records if r.name == "loginsite.operations"]
    assert len(warnings) == 2
    assert all(
        r.levelno == logging.WARNING for r in caplog.records if r.name == "loginsite.operations"
    )
    assert "loginsite.revocation.store = memory" in warnings[0]
    assert "loginsite.session.max_age = 86400" in warnings[1]
