"""An account event survives what a server can suffer: Redis down at delivery, then SIGKILL.

Two instances are separate pserve processes on one real redis-server, each with its own
revocation journal. login.gov never resends an event it got a 202 for, so the 202 must mean the
action is durable even when Redis is unreachable and the process dies right after answering.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from loginsite.oidc.security_event import EVENT_TYPES
from loginsite.settings import SECURITY_EVENTS_PATH
from tests.plugins.app_instances import PUBLIC_URL, AppInstance, SiteBrowser
from tests.plugins.oidc_provider import TestProvider

pytestmark = pytest.mark.redis

SIGNED_IN, ANONYMOUS = 200, 303
#: Generous: propagation plus a resync after Redis returns, on 2 loaded cores.
SETTLE = 30.0


def wait_for(condition: Callable[[], bool], timeout: float = SETTLE) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def signed_in_browser(provider: TestProvider, instance: AppInstance) -> str:
    """Sign in through the provider at ``instance``; the session cookie."""
    browser = SiteBrowser(PUBLIC_URL)
    start = browser.get(instance, "/auth/login", next="/account")
    assert start.status_code == 303, start.text
    done = browser.get(instance, "/auth/callback", **provider.authorize(start.headers["Location"]))
    assert done.status_code == 303, done.text
    return browser.session.cookies["loginsite"]


def status(cookie: str, instance: AppInstance) -> int:
    browser = SiteBrowser(PUBLIC_URL)  # fresh each time: a refused cookie is cleared
    browser.session.cookies.set("loginsite", cookie, domain="127.0.0.1")
    return browser.get(instance, "/account").status_code


def security_event(provider: TestProvider, event: str) -> str:
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "aud": PUBLIC_URL + SECURITY_EVENTS_PATH,
        "iat": now,
        "exp": now + 12 * 3600,
        "jti": secrets.token_hex(16),
        "events": {
            EVENT_TYPES[event]: {
                "subject": {"subject_type": "iss-sub", "iss": provider.issuer, "sub": provider.sub}
            }
        },
    }
    return provider.sign(claims, header={"typ": "secevent+jwt"})


@pytest.fixture
def instances(
    app_instances: Callable[..., AppInstance], shared_redis_settings: dict[str, str]
) -> tuple[AppInstance, AppInstance]:
    settings = {**shared_redis_settings, "loginsite.revocation.max_staleness": "60"}
    return app_instances("first", settings), app_instances("second", settings)


def test_an_event_acknowledged_during_an_outage_survives_a_kill_right_after_the_202(
    instances: tuple[AppInstance, AppInstance], test_provider: TestProvider, redis_server: Any
) -> None:
    first, second = instances
    cookie = signed_in_browser(test_provider, first)
    assert wait_for(lambda: status(cookie, second) == SIGNED_IN)
    redis_server.stop()
    answer = requests.post(
        second.url + SECURITY_EVENTS_PATH,
        data=security_event(test_provider, "account-disabled"),
        headers={"Content-Type": "application/secevent+jwt"},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    second.kill()  # right after the 202: no atexit, no flush
    redis_server.start()  # empty: it persists nothing
    second.start()  # the same INI and journal
    assert wait_for(lambda: status(cookie, first) == ANONYMOUS), first.log_text()
    assert wait_for(lambda: status(cookie, second) == ANONYMOUS), second.log_text()
