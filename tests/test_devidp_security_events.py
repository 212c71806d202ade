"""The development provider pushes account events to two app instances sharing a real Redis.

Both instances serve the same ``public_url`` (as behind a load balancer): the first also runs
the development provider, whose key signs id_tokens and SETs alike; the second verifies SETs
against that provider's JWKS over HTTP. A session-ending event delivered to either instance
ends the user's sessions on both, within the propagation bound.
"""

from __future__ import annotations

import html
import json
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from pyramid.interfaces import ISecurityPolicy

from loginsite.devidp import SENDER_KEY, get_provider
from loginsite.devidp.security_events import EMAIL_SUBJECT_EVENTS, SecurityEventSender
from loginsite.oidc.security_event import DEFAULT_ACTIONS, END_SESSIONS, EVENT_TYPES
from loginsite.revocation import get_revocation_store
from loginsite.settings import SECURITY_EVENTS_PATH
from tests.plugins.live_server import LiveServer
from tests.plugins.redis_server import RedisServer

pytestmark = pytest.mark.redis

ALICE, BOB = "alice@example.gov", "bob@example.gov"
#: Generous for 2 shared cores; the redis store publishes entries at once.
PROPAGATION_BOUND = 10.0
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def wait_for(condition: Callable[[], bool], timeout: float = PROPAGATION_BOUND) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@dataclass
class Instance:
    server: LiveServer
    wsgi: Any

    @property
    def endpoint(self) -> str:
        return self.server.url + SECURITY_EVENTS_PATH

    def status(self, cookie: str) -> int:
        response = requests.get(
            self.server.url + "/account",
            cookies={"loginsite": cookie},
            allow_redirects=False,
            timeout=10,
        )
        return response.status_code

    def signed_in(self, cookie: str) -> bool:
        status = self.status(cookie)
        assert status in (200, 303), status
        return status == 200


@dataclass
class Cluster:
    first: Instance  # also serves the development provider
    second: Instance
    sender: SecurityEventSender

    @property
    def instances(self) -> tuple[Instance, Instance]:
        return (self.first, self.second)

    def session(self, email: str) -> str:
        """A session cookie for a test user, as signing in through the provider would mint."""
        sub = get_provider(self.first.wsgi.registry).subject_for(email)
        policy = self.first.wsgi.registry.getUtility(ISecurityPolicy)
        value, _ = policy.codec.mint(sub, email=email, acr="urn:acr.login.gov:auth-only")
        return str(value)

    def signed_in_everywhere(self, cookie: str) -> bool:
        return all(i.signed_in(cookie) for i in self.instances)

    def signed_out_everywhere(self, cookie: str) -> bool:
        return not any(i.signed_in(cookie) for i in self.instances)


@pytest.fixture
def cluster(
    make_app: Callable[..., Any],
    live_server: Callable[[], LiveServer],
    redis_server: RedisServer,
    tmp_path: Path,
) -> Cluster:
    first_server, second_server = live_server(), live_server()
    public_url = first_server.url
    shared = {
        "loginsite.public_url": public_url,
        "loginsite.idp.issuer": public_url + "/_devidp/",
        "loginsite.revocation.store": "redis",
        "loginsite.revocation.redis_url": redis_server.url,
        "loginsite.revocation.redis_timeout": "0.5",
    }
    first = make_app(
        **shared,
        **{
            "pyramid.includes": "loginsite.devidp",
            "loginsite.devidp.data_dir": str(tmp_path / "devidp"),
        },
    )
    second = make_app(**shared)
    for app in (first, second):
        assert get_revocation_store(app.registry).wait_until_synced(5)
    first_server.start(first)
    second_server.start(second)
    return Cluster(
        Instance(first_server, first), Instance(second_server, second), first.registry[SENDER_KEY]
    )


def barrier(cluster: Cluster, via: Instance) -> None:
    """Push a session-ending event about Bob and wait until both instances refuse him: every
    event delivered before it has then propagated too."""
    bob = cluster.session(BOB)
    assert cluster.sender.push("account-purged", BOB, via=via.endpoint).accepted
    assert wait_for(lambda: cluster.signed_out_everywhere(bob))


@pytest.mark.parametrize("event", list(EVENT_TYPES))
def test_each_event_pushed_to_the_second_instance_acts_on_both(
    cluster: Cluster, event: str
) -> None:
    alice, chen = cluster.session(ALICE), cluster.session("chen@example.gov")
    assert cluster.signed_in_everywhere(alice)
    delivery = cluster.sender.push(event, ALICE, via=cluster.second.endpoint)
    assert delivery.status == 202, delivery.body
    ends = DEFAULT_ACTIONS[EVENT_TYPES[event]] == END_SESSIONS and event not in EMAIL_SUBJECT_EVENTS
    if ends:
        assert not cluster.second.signed_in(alice), "the receiving instance ends it at once"
        assert wait_for(lambda: cluster.signed_out_everywhere(alice))
    else:
        barrier(cluster, via=cluster.second)
        assert cluster.signed_in_everywhere(alice)
    assert cluster.signed_in_everywhere(chen)


def test_the_simulate_page_pushes_to_the_app_and_says_what_happened(cluster: Cluster) -> None:
    alice, bob = cluster.session(ALICE), cluster.session(BOB)
    browser = requests.Session()
    page_url = cluster.first.server.url + "/_devidp/security-events"
    page = browser.get(page_url, timeout=10)
    assert page.status_code == 200
    assert "Simulate an account event" in page.text
    assert 'password-reset <span class="muted">(in this app: ends the user&#39;s sessions)' in (
        page.text
    )
    assert 'reproof-completed <span class="muted">(in this app: recorded only)' in page.text
    assert 'identifier-recycled <span class="muted">(in this app: about an email address' in (
        page.text
    )
    form = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
    answer = browser.post(
        page_url, data={**form, "user": ALICE, "event": "password-reset"}, timeout=20
    )
    assert answer.status_code == 200, answer.text
    assert "The app accepted the event" in answer.text
    assert html.escape(cluster.first.endpoint) in answer.text
    assert wait_for(lambda: cluster.signed_out_everywhere(alice))
    assert cluster.signed_in_everywhere(bob)


def test_the_simulate_page_refuses_an_unknown_user_or_event(cluster: Cluster) -> None:
    browser = requests.Session()
    page_url = cluster.first.server.url + "/_devidp/security-events"
    page = browser.get(page_url, timeout=10)
    form = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
    for fields in (
        {"user": "mallory@example.gov", "event": "password-reset"},
        {"user": ALICE, "event": "password-changed"},
    ):
        answer = browser.post(page_url, data={**form, **fields}, timeout=10)
        assert answer.status_code == 400
        assert "There is a problem" in answer.text


def test_a_replay_to_the_other_instance_is_refused(cluster: Cluster) -> None:
    claims = cluster.sender.claims("password-reset", ALICE)
    token = cluster.sender.sign(claims)
    first = cluster.sender.deliver(token, claims, cluster.first.endpoint)
    assert first.status == 202, first.body
    time.sleep(1.1)  # the event ended sessions signed in up to its next whole second
    alice = cluster.session(ALICE)  # signed in again after the event
    again = cluster.sender.deliver(token, claims, cluster.second.endpoint)
    assert again.status == 400
    assert json.loads(again.body) == {
        "err": "invalid_request",
        "description": "this SET (its jti) was already received",
    }
    barrier(cluster, via=cluster.first)
    assert cluster.signed_in_everywhere(alice), "the replay did not end the new session"


def test_an_event_delivered_while_redis_is_down_is_applied_when_it_returns(
    cluster: Cluster, redis_server: RedisServer
) -> None:
    alice = cluster.session(ALICE)
    redis_server.stop()
    store = get_revocation_store(cluster.second.wsgi.registry)
    assert wait_for(lambda: not store.synced)
    delivery = cluster.sender.push("account-disabled", ALICE, via=cluster.second.endpoint)
    assert delivery.status == 202, delivery.body
    redis_server.start()
    assert store.wait_until_written(PROPAGATION_BOUND)
    first_store = get_revocation_store(cluster.first.wsgi.registry)
    assert first_store.wait_until_synced(PROPAGATION_BOUND)
    assert wait_for(lambda: cluster.signed_out_everywhere(alice))


def test_the_push_has_a_timeout(cluster: Cluster) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}{SECURITY_EVENTS_PATH}"
        sender = SecurityEventSender(
            get_provider(cluster.first.wsgi.registry), push_url=cluster.first.endpoint, timeout=0.5
        )
        delivery = sender.push("password-reset", ALICE, via=url)
    assert delivery.status is None
    assert delivery.body == "no answer: ReadTimeout"
