"""Revocation through the running app: sign-out is real, across instances sharing one Redis."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import pytest
import webtest
from pyramid.interfaces import ISecurityPolicy

from loginsite.revocation import get_revocation_store, revoke_session

COOKIE = "loginsite"
pytestmark = pytest.mark.redis


def browser(app: Any) -> webtest.TestApp:
    return webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost:6543"})


def signed_in(app: Any, sub: str = "sub-1") -> tuple[webtest.TestApp, str]:
    policy = app.registry.getUtility(ISecurityPolicy)
    value, _ = policy.codec.mint(sub, email="a@example.gov", acr="urn:acr.login.gov:auth-only")
    client = browser(app)
    client.set_cookie(COOKIE, value)
    return client, value


def sign_out(client: webtest.TestApp, *, everywhere: bool = False) -> None:
    account = client.get("/account")
    forms = [f for f in account.forms.values() if ("everywhere" in f.fields) == everywhere]
    forms[0].submit(status=303)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def is_anonymous(app: Any, value: str) -> bool:
    client = browser(app)
    client.set_cookie(COOKIE, value)
    return client.get("/account").status_int == 303


@pytest.fixture
def redis_apps(make_app: Callable[..., Any], redis_server: Any) -> Callable[..., Any]:
    def make(**overrides: str) -> Any:
        app = make_app(
            **{
                "loginsite.revocation.store": "redis",
                "loginsite.revocation.redis_url": redis_server.url,
                "loginsite.revocation.redis_timeout": "0.5",
                **overrides,
            }
        )
        assert get_revocation_store(app.registry).wait_until_synced(5)
        return app

    return make


def test_replay_of_a_copied_cookie_after_sign_out_is_anonymous(make_app) -> None:
    app = make_app()
    client, copied = signed_in(app)
    sign_out(client)
    attacker = browser(app)
    attacker.set_cookie(COOKIE, copied)
    response = attacker.get("/account", status=303)
    assert response.location.startswith("http://localhost:6543/auth/login")
    assert any(c.startswith(COOKIE + "=;") for c in response.headers.getall("Set-Cookie"))


def test_a_session_revoked_on_one_instance_is_refused_by_another(redis_apps) -> None:
    first, second = redis_apps(), redis_apps()
    client, copied = signed_in(first)
    assert not is_anonymous(second, copied)
    sign_out(client)
    assert wait_for(lambda: is_anonymous(second, copied))


def test_sign_out_everywhere_reaches_every_instance(redis_apps) -> None:
    first, second = redis_apps(), redis_apps()
    phone, _ = signed_in(first, sub="sub-7")
    _, laptop = signed_in(second, sub="sub-7")
    _, other_user = signed_in(second, sub="sub-8")
    sign_out(phone, everywhere=True)
    assert wait_for(lambda: is_anonymous(second, laptop))
    assert not is_anonymous(second, other_user)


def test_an_instance_started_later_loads_the_current_list(redis_apps) -> None:
    first = redis_apps()
    client, copied = signed_in(first)
    sign_out(client)
    assert get_revocation_store(first.registry).wait_until_written(5)
    late = redis_apps()
    assert is_anonymous(late, copied)


def test_a_reencoded_copy_of_a_revoked_token_is_refused(make_app) -> None:
    app = make_app()
    client, value = signed_in(app)
    header, payload, signature = value.split(".")
    padded = f"{header}.{payload}.{signature}="  # base64 padding: decodes to the same bytes
    assert not is_anonymous(app, padded), "the re-encoding must verify, or this proves nothing"
    # 32 signature bytes fill 43 characters with 2 bits to spare; other spare bits decode to
    # the same bytes too, but the decoder refuses non-canonical encodings outright.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    flipped = alphabet[alphabet.index(signature[-1]) ^ 0b01]
    other_bits = f"{header}.{payload}.{signature[:-1]}{flipped}"
    assert base64.urlsafe_b64decode(signature + "=") == base64.urlsafe_b64decode(
        other_bits.rsplit(".", 1)[1] + "="
    )
    assert is_anonymous(app, other_bits)
    sign_out(client)
    assert is_anonymous(app, value)
    assert is_anonymous(app, padded)


def test_python_api_revokes_one_session(make_app) -> None:
    app = make_app()
    policy = app.registry.getUtility(ISecurityPolicy)
    _, value = signed_in(app)
    token = policy.codec.verify(value)
    revoke_session(get_revocation_store(app.registry), token.session_id, expires_at=token.deadline)
    assert is_anonymous(app, value)


def test_redis_down_past_max_staleness_is_anonymous_but_keeps_the_cookie(
    redis_apps, redis_server
) -> None:
    app = redis_apps(**{"loginsite.revocation.max_staleness": "4"})
    client, _value = signed_in(app)
    assert client.get("/account").status_int == 200
    redis_server.stop()
    store = get_revocation_store(app.registry)
    assert wait_for(lambda: not store.status().ready)
    response = client.get("/account", status=503)
    assert "We cannot confirm your session right now" in response.text
    assert not any(c.startswith(COOKIE + "=") for c in response.headers.getall("Set-Cookie"))
    redis_server.start()
    assert store.wait_until_synced(10)
    assert client.get("/account").status_int == 200


def test_redis_down_within_max_staleness_trusts_the_last_list(redis_apps, redis_server) -> None:
    app = redis_apps(**{"loginsite.revocation.max_staleness": "3600"})
    client, revoked = signed_in(app, sub="sub-1")
    sign_out(client)
    other, _value = signed_in(app, sub="sub-2")
    redis_server.stop()
    store = get_revocation_store(app.registry)
    assert wait_for(lambda: not store.synced)
    assert other.get("/account").status_int == 200
    assert is_anonymous(app, revoked)


def test_sign_out_while_redis_is_down_still_signs_out_and_reaches_redis_later(
    redis_apps, redis_server
) -> None:
    first = redis_apps(**{"loginsite.revocation.max_staleness": "3600"})
    client, copied = signed_in(first)
    redis_server.stop()
    store = get_revocation_store(first.registry)
    assert wait_for(lambda: not store.synced)
    sign_out(client)
    assert is_anonymous(first, copied)
    redis_server.start()
    assert store.wait_until_written(10)
    late = redis_apps()
    assert is_anonymous(late, copied)
