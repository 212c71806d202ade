"""/healthz and /readyz: what each answers, that neither touches the session or sets a cookie,
and that provider trouble shows in the body, never in the status."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import webtest

from loginsite.revocation import STORE_KEY
from loginsite.revocation.store import RevocationStatus
from tests.plugins.oidc_provider import TestProvider
from tests.plugins.redis_server import RedisServer


def browser(app: Any) -> webtest.TestApp:
    return webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost:6543"})


class FakeStatusStore:
    """The configured store, answering ``status()`` with what a test says."""

    def __init__(self, inner: Any, status: RevocationStatus) -> None:
        self._inner = inner
        self.current = status

    def status(self) -> RevocationStatus:
        return self.current

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def with_status(app: Any, **fields: Any) -> FakeStatusStore:
    store = app.registry[STORE_KEY]
    fake = FakeStatusStore(store, dataclasses.replace(store.status(), **fields))
    app.registry[STORE_KEY] = fake
    return fake


def test_healthz_answers_while_the_process_serves(make_app: Callable[..., Any]) -> None:
    response = browser(make_app()).get("/healthz", status=200)
    assert response.json == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_neither_endpoint_consults_the_session_or_sets_a_cookie(
    make_app: Callable[..., Any], path: str
) -> None:
    client = browser(make_app())
    # A tampered session cookie: consulting the session would clear it and log a refusal.
    response = client.get(path, headers={"Cookie": "loginsite=tampered.tampered.tampered"})
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    client.head(path)


def test_readyz_is_ready_with_a_local_store(make_app: Callable[..., Any]) -> None:
    response = browser(make_app()).get("/readyz", status=200)
    body = response.json
    assert body["ready"] is True
    assert body["problems"] == []
    assert body["settings"] == "loaded"
    assert body["revocation"]["ready"] is True
    assert body["revocation"]["entries"] == 0
    assert body["provider"] == {
        "discovery": {"state": "missing", "age": None, "failing": False},
        "jwks": {"state": "missing", "age": None, "failing": False},
    }


def test_readyz_is_unready_when_the_list_is_too_stale(make_app: Callable[..., Any]) -> None:
    app = make_app()
    with_status(app, ready=False, synced=False, staleness=float("inf"))
    body = browser(app).get("/readyz", status=503).json
    assert body["ready"] is False
    assert body["problems"] == ["revocation list not synced within max_staleness"]
    assert body["revocation"]["staleness"] is None


def test_readyz_waits_for_pending_revocations_out_of_contact(
    make_app: Callable[..., Any],
) -> None:
    app = make_app()
    fake = with_status(app, synced=False, staleness=2.0, pending_writes=3, journal_depth=3)
    body = browser(app).get("/readyz", status=503).json
    assert body["problems"] == ["revocations made here are waiting for the shared store"]
    # Still being written while in contact: flushing, so ready.
    fake.current = dataclasses.replace(fake.current, synced=True, staleness=0.0)
    assert browser(app).get("/readyz", status=200).json["revocation"]["pending_writes"] == 3


def test_provider_trouble_shows_in_the_body_never_in_the_status(
    make_app: Callable[..., Any], test_provider: TestProvider, tmp_path: Path
) -> None:
    key_file = tmp_path / "client.pem"
    key_file.write_bytes(test_provider.client_private_key_pem)
    app = make_app(
        **{
            "loginsite.idp.issuer": test_provider.issuer,
            "loginsite.idp.client_id": test_provider.client_id,
            "loginsite.idp.private_key": str(key_file),
            "loginsite.idp.timeout": "1",
            "loginsite.idp.metadata_ttl": "1",
        }
    )
    client = browser(app)
    client.get("/auth/login", status=303)
    provider = client.get("/readyz", status=200).json["provider"]
    assert provider["discovery"]["state"] == "fresh"
    assert provider["jwks"]["state"] == "missing"  # fetched only to check an id_token
    test_provider.respond("discovery", status=500, body=b"down")
    time.sleep(1.1)  # past the 1 s ttl: the next sign-in refreshes, fails, serves the old one
    client.get("/auth/login", status=303)
    provider = client.get("/readyz", status=200).json["provider"]
    assert provider["discovery"]["state"] == "stale"
    assert provider["discovery"]["failing"] is True


@pytest.mark.redis
def test_readyz_follows_the_shared_store(
    make_app: Callable[..., Any], redis_server: RedisServer
) -> None:
    app = make_app(
        **{
            "loginsite.revocation.store": "redis",
            "loginsite.revocation.redis_url": redis_server.url,
            "loginsite.revocation.redis_timeout": "0.2",
            "loginsite.revocation.max_staleness": "3",
        }
    )
    client = browser(app)
    deadline = time.monotonic() + 10
    while client.get("/readyz", expect_errors=True).status_int != 200:
        assert time.monotonic() < deadline, "never became ready"
        time.sleep(0.05)
    redis_server.stop()
    while (response := client.get("/readyz", expect_errors=True)).status_int != 503:
        assert time.monotonic() < deadline + 10, "never became unready"
        time.sleep(0.05)
    assert response.json["problems"] == ["revocation list not synced within max_staleness"]
    assert response.json["revocation"]["synced"] is False
    redis_server.start()
    while client.get("/readyz", expect_errors=True).status_int != 200:
        assert time.monotonic() < deadline + 30, "never became ready again"
        time.sleep(0.05)
