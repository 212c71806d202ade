"""The audit trail: exactly one ``loginsite.audit`` event per security-relevant action, with the
AU-3 fields, and no personal data or secret anywhere in it.

Real flows: the app's own client signs in against the test provider over real HTTP, WebTest
plays the browser; the proxy tests run waitress with production.ini's proxy settings; the
``loginsite-revoke`` tests run the installed console script against a real Redis.
"""

from __future__ import annotations

import io
import json
import logging
import os
import pwd
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import webtest
from pyramid.interfaces import ISecurityPolicy

from loginsite.auth.views import FLOW_KEY
from loginsite.operations import audit
from loginsite.revocation import STORE_KEY
from loginsite.settings import ACR_AUTH_ONLY, ACR_VERIFIED
from tests.plugins.clock import FakeClock
from tests.plugins.live_server import LiveServer
from tests.plugins.oidc_provider import TestProvider
from tests.plugins.redis_server import RedisServer
from tests.plugins.session_keys import SECRET_1, SECRET_2, SECRET_3
from tests.test_auth_signout import SwitchableStore
from tests.test_operations_logs import ini_logging  # noqa: F401 - the fixture, for the INI tests
from tests.test_operations_proxy import production_proxy_options

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_URL = "https://app.example.test"
SESSION_COOKIE = "__Host-loginsite"
VISITOR = "198.51.100.23"
IDLE = 900
SAME_SITE = {"Origin": PUBLIC_URL}
_RECORD_ATTRIBUTES = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
}


# -- reading the trail -------------------------------------------------------------------------


class Trail:
    """The audit events logged since the last :meth:`take`."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog
        caplog.set_level(logging.INFO, logger=audit.AUDIT_LOGGER)

    def take(self) -> list[logging.LogRecord]:
        records = [r for r in self._caplog.records if r.name == audit.AUDIT_LOGGER]
        self._caplog.clear()
        return records

    def one(self, event: str) -> logging.LogRecord:
        """The action logged exactly one audit event, and it is ``event``."""
        records = self.take()
        assert [r.event for r in records] == [event], [r.getMessage() for r in records]
        return records[0]

    def none(self) -> None:
        assert [r.getMessage() for r in self.take()] == []


@pytest.fixture
def trail(caplog: pytest.LogCaptureFixture) -> Trail:
    return Trail(caplog)


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """What the event put in the record: every field a JSON formatter writes as a key."""
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES}


def assert_event(record: logging.LogRecord, **expected: Any) -> None:
    """The AU-3 content every event has, and the given fields' values."""
    values = fields(record)
    assert set(audit.FIELDS) <= set(values), values
    assert values["event"] in audit.EVENTS
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", values["event_time"])
    when = datetime.strptime(values["event_time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - when).total_seconds()) < 120
    assert values["host"] == socket.gethostname()
    assert values["pid"] == os.getpid()
    assert values["outcome"] in (audit.SUCCESS, audit.FAILURE)
    assert record.levelno == (logging.INFO if values["outcome"] == "success" else logging.WARNING)
    assert re.fullmatch(r"[a-z0-9_]+", values["reason"]), values["reason"]
    assert values["detail"] is None or re.fullmatch(r"[a-z0-9_]+", values["detail"])
    for name, value in expected.items():
        assert values[name] == value, (name, values[name], value)
    message = record.getMessage()
    assert message.startswith(f"{values['event']} {values['outcome']} reason={values['reason']}")


def assert_free_of(record: logging.LogRecord, *secrets: str) -> None:
    """No secret (and no email address at all) in the message or in any field."""
    texts = [record.getMessage(), *(json.dumps(v, default=str) for v in fields(record).values())]
    for text in texts:
        assert "@" not in text, text
        for secret in secrets:
            assert secret, "an empty secret would prove nothing"
            assert secret not in text, (secret, text)


# -- the site ----------------------------------------------------------------------------------


@dataclass
class Site:
    app: Any
    clock: FakeClock
    store: SwitchableStore
    provider: TestProvider

    @property
    def policy(self) -> Any:
        return self.app.registry.getUtility(ISecurityPolicy)

    def browser(self) -> webtest.TestApp:
        return webtest.TestApp(
            self.app,
            extra_environ={
                "wsgi.url_scheme": "https",
                "HTTP_HOST": "app.example.test",
                "REMOTE_ADDR": VISITOR,
            },
        )

    def start(self, browser: webtest.TestApp, query: str = "next=/account") -> dict[str, str]:
        """Begin a sign-in and let the provider answer: the callback's parameters."""
        login = browser.get(f"/auth/login?{query}", status=303)
        return self.provider.authorize(login.location)

    def signed_in(self) -> tuple[webtest.TestApp, str]:
        """A browser with a fresh session, and that session's id."""
        browser = self.browser()
        browser.get("/auth/callback", params=self.start(browser), status=303)
        return browser, self.session_id(browser)

    def session_id(self, browser: webtest.TestApp) -> str:
        return self.policy.codec.signed_token(browser.cookies[SESSION_COOKIE]).session_id

    def secrets(self, browser: webtest.TestApp, *more: str) -> list[str]:
        """Everything that must never reach the trail: cookies, provider tokens and codes."""
        values = [v for v in browser.cookies.values() if len(v) > 16]
        values += list(self.provider.codes) + list(self.provider.access_tokens)
        if self.provider.last_id_token:
            values.append(self.provider.last_id_token)
        return [*values, self.provider.email, *more]


@pytest.fixture
def site(make_app: Callable[..., Any], test_provider: TestProvider, tmp_path: Path) -> Site:
    key_file = tmp_path / "client.pem"
    key_file.write_bytes(test_provider.client_private_key_pem)
    app = make_app(
        **{
            "loginsite.public_url": PUBLIC_URL,
            "loginsite.session.secure": "true",
            "loginsite.session.idle_timeout": str(IDLE),
            "loginsite.session.max_age": str(4 * IDLE),
            "loginsite.idp.issuer": test_provider.issuer,
            "loginsite.idp.client_id": test_provider.client_id,
            "loginsite.idp.private_key": str(key_file),
            "loginsite.idp.timeout": "2",
        }
    )
    clock = FakeClock()
    policy = app.registry.getUtility(ISecurityPolicy)
    policy.codec.clock = clock
    store = SwitchableStore(clock)
    policy.revocations = store
    app.registry[FLOW_KEY].revocations = store
    app.registry[STORE_KEY] = store
    return Site(app, clock, store, test_provider)


# -- sign-in -----------------------------------------------------------------------------------


def test_a_sign_in_is_one_success_event_with_who_when_where(site: Site, trail: Trail) -> None:
    browser = site.browser()
    params = site.start(browser)
    trail.take()
    done = browser.get("/auth/callback", params=params, status=303)
    record = trail.one("auth.sign_in")
    assert_event(
        record,
        outcome="success",
        reason="ok",
        component="auth",
        path="/auth/callback",
        client_addr=VISITOR,
        sub=site.provider.sub,
        sid=site.session_id(browser),
        request_id=done.headers["X-Request-Id"],
        acr=ACR_AUTH_ONLY,
        replaced_sid=None,
    )
    assert_free_of(record, *site.secrets(browser, params["code"], params["state"]))


def test_a_second_sign_in_names_the_session_it_replaced(site: Site, trail: Trail) -> None:
    browser = site.browser()
    first_tab, second_tab = site.start(browser), site.start(browser)  # two tabs at once
    browser.get("/auth/callback", params=first_tab, status=303)
    first = site.session_id(browser)
    trail.take()
    browser.get("/auth/callback", params=second_tab, status=303)
    record = trail.one("auth.sign_in")
    assert_event(record, outcome="success", replaced_sid=first, sid=site.session_id(browser))
    assert first != record.sid


@pytest.mark.parametrize(
    ("error", "reason", "detail"),
    [
        ("access_denied", "cancelled", "access_denied"),
        ("temporarily_unavailable", "provider_error", "temporarily_unavailable"),
        ("made-up <script>", "provider_error", "other"),
    ],
)
def test_the_provider_saying_no_is_a_failure_with_its_reason(
    site: Site, trail: Trail, error: str, reason: str, detail: str
) -> None:
    browser = site.browser()
    site.provider.authorize_error = error
    params = site.start(browser)
    trail.take()
    browser.get("/auth/callback", params=params, status=200 if reason == "cancelled" else 400)
    record = trail.one("auth.sign_in")
    assert_event(record, outcome="failure", reason=reason, detail=detail, sub=None, sid=None)
    assert_free_of(record, params["state"], "script")


@pytest.mark.parametrize(
    ("bend", "reason", "detail", "status"),
    [
        (lambda p: p.respond("token", status=500), "provider_unavailable", "provider_error", 502),
        (
            lambda p: p.id_token_claims.update(nonce="n" * 43),
            "id_token_refused",
            "invalid_id_token",
            400,
        ),
        (
            lambda p: p.respond("token", status=400, body=b'{"error": "invalid_grant"}'),
            "request_refused",
            "provider_refused",
            400,
        ),
    ],
    ids=["token-endpoint-down", "wrong-nonce", "code-refused"],
)
def test_a_provider_or_token_failure_is_a_failure_with_its_category(
    site: Site,
    trail: Trail,
    bend: Callable[[TestProvider], Any],
    reason: str,
    detail: str,
    status: int,
) -> None:
    browser = site.browser()
    params = site.start(browser)
    bend(site.provider)
    trail.take()
    browser.get("/auth/callback", params=params, status=status)
    record = trail.one("auth.sign_in")
    assert_event(record, outcome="failure", reason=reason, detail=detail, path="/auth/callback")
    assert_free_of(record, *site.secrets(browser, params["code"], params["state"]))


@pytest.mark.parametrize(
    ("tamper", "detail"),
    [
        (lambda params: {**params, "state": "x" * 43}, "no_transaction_cookie"),
        (lambda params: {k: v for k, v in params.items() if k != "state"}, "no_state_in_callback"),
    ],
    ids=["other-state", "no-state"],
)
def test_a_state_mismatch_is_a_failure(
    site: Site, trail: Trail, tamper: Callable[[dict[str, str]], dict[str, str]], detail: str
) -> None:
    browser = site.browser()
    params = site.start(browser)
    trail.take()
    browser.get("/auth/callback", params=tamper(params), status=400)
    record = trail.one("auth.sign_in")
    assert_event(record, outcome="failure", reason="state_mismatch", detail=detail)
    assert_free_of(record, *site.secrets(browser, params["code"], params["state"]))


def test_a_repeated_parameter_is_a_failure(site: Site, trail: Trail) -> None:
    browser = site.browser()
    params = site.start(browser)
    trail.take()
    query = f"code={params['code']}&state={params['state']}&state={params['state']}"
    browser.get("/auth/callback?" + query, status=400)
    record = trail.one("auth.sign_in")
    assert_event(record, outcome="failure", reason="repeated_parameter")
    assert_free_of(record, params["code"], params["state"])


def test_an_identity_too_large_for_a_cookie_is_a_failure(site: Site, trail: Trail) -> None:
    browser = site.browser()
    params = site.start(browser)
    site.provider.userinfo_overrides = {"email": "e" * 4000 + "@example.test"}
    trail.take()
    browser.get("/auth/callback", params=params, status=502)
    record = trail.one("auth.sign_in")
    assert_event(record, outcome="failure", reason="identity_too_large", sub=None)
    assert_free_of(record, "e" * 100, params["code"])


def test_a_sign_in_that_cannot_start_is_a_failure(site: Site, trail: Trail) -> None:
    site.provider.respond("discovery", status=503)
    browser = site.browser()
    browser.get("/auth/login?next=/account", status=502)
    record = trail.one("auth.sign_in")
    assert_event(
        record, outcome="failure", reason="provider_unavailable", path="/auth/login", sub=None
    )


# -- step-up -----------------------------------------------------------------------------------


def start_step_up(site: Site, browser: webtest.TestApp) -> tuple[dict[str, str], Any]:
    step_up = browser.get("/account/verified", status=303)
    login = browser.get(step_up.location, status=303)
    assert parse_qs(urlsplit(login.location).query)["acr_values"] == [ACR_VERIFIED]
    return site.provider.authorize(login.location), login


def test_a_step_up_is_requested_then_granted(site: Site, trail: Trail) -> None:
    browser, auth_only = site.signed_in()
    trail.take()
    params, login = start_step_up(site, browser)
    requested = trail.one("auth.step_up_requested")
    assert_event(
        requested,
        outcome="success",
        reason="sent_to_provider",
        path="/auth/login",
        sub=site.provider.sub,
        sid=auth_only,
        request_id=login.headers["X-Request-Id"],
    )
    assert_free_of(requested, *site.secrets(browser, params["state"]))
    browser.get("/auth/callback", params=params, status=303)
    granted = trail.one("auth.step_up")
    assert_event(
        granted,
        outcome="success",
        reason="ok",
        sub=site.provider.sub,
        sid=site.session_id(browser),
        acr=ACR_VERIFIED,
        replaced_sid=auth_only,
    )
    assert_free_of(granted, *site.secrets(browser, params["code"], params["state"]))


def test_a_step_up_cancelled_at_the_provider_is_not_granted(site: Site, trail: Trail) -> None:
    browser, auth_only = site.signed_in()
    site.provider.authorize_error = "access_denied"
    params, _ = start_step_up(site, browser)
    trail.take()
    browser.get("/auth/callback", params=params, status=200)  # "You cancelled signing in"
    record = trail.one("auth.step_up")
    assert_event(
        record, outcome="failure", reason="cancelled", sub=site.provider.sub, sid=auth_only
    )


# -- sign-out ----------------------------------------------------------------------------------


def sign_out(browser: webtest.TestApp, *, everywhere: bool = False, status: int = 303) -> Any:
    token = "a-csrf-token-this-browser-holds-0123456789"
    browser.set_cookie("__Host-csrf", token)
    form = {"csrf_token": token, **({"everywhere": "1"} if everywhere else {})}
    return browser.post("/auth/logout", form, headers=SAME_SITE, status=status)


@pytest.mark.parametrize(
    ("everywhere", "event", "reason"),
    [(False, "auth.sign_out", "session"), (True, "auth.sign_out_everywhere", "everywhere")],
)
def test_a_sign_out_is_one_event(
    site: Site, trail: Trail, everywhere: bool, event: str, reason: str
) -> None:
    browser, session = site.signed_in()
    secrets = site.secrets(browser)
    trail.take()
    response = sign_out(browser, everywhere=everywhere)
    record = trail.one(event)
    assert_event(
        record,
        outcome="success",
        reason=reason,
        component="auth",
        path="/auth/logout",
        client_addr=VISITOR,
        sub=site.provider.sub,
        sid=session,
        request_id=response.headers["X-Request-Id"],
    )
    state = parse_qs(urlsplit(response.location).query)["state"][0]
    assert_free_of(record, *secrets, state, "a-csrf-token-this-browser-holds")


def test_a_sign_out_that_could_not_be_recorded_is_a_failure(site: Site, trail: Trail) -> None:
    browser, session = site.signed_in()
    site.store.writes_down = True
    trail.take()
    sign_out(browser)
    record = trail.one("auth.sign_out")
    assert_event(record, outcome="failure", reason="not_recorded", sid=session)


def test_a_sign_out_without_a_session_says_so(site: Site, trail: Trail) -> None:
    sign_out(site.browser())
    assert_event(trail.one("auth.sign_out"), outcome="success", reason="no_session", sid=None)


# -- session refused ---------------------------------------------------------------------------


def test_an_ordinary_signed_in_request_writes_nothing(site: Site, trail: Trail) -> None:
    browser, _ = site.signed_in()
    trail.take()
    for _ in range(3):
        browser.get("/account", status=200)
    site.clock.advance(IDLE / 2)  # a renewal is not an audit event either
    assert any(
        c.startswith(SESSION_COOKIE) for c in browser.get("/account").headers.getall("Set-Cookie")
    )
    trail.none()


@pytest.mark.parametrize(
    ("in_use", "reason", "detail"),
    [(0, "idle", "idle_timeout_passed"), (4, "expired", "absolute_deadline_passed")],
)
def test_an_expired_session_is_refused_and_names_who(
    site: Site, trail: Trail, in_use: int, reason: str, detail: str
) -> None:
    browser, session = site.signed_in()
    for _ in range(in_use):  # in use (so renewed) up to its absolute deadline
        site.clock.advance(IDLE * 0.9)
        browser.get("/account", status=200)
    secrets = site.secrets(browser)
    trail.take()
    site.clock.advance(IDLE + 1)
    response = browser.get("/account", status=303)
    record = trail.one("session.refused")
    assert_event(
        record,
        outcome="failure",
        reason=reason,
        detail=detail,
        component="session",
        path="/account",
        client_addr=VISITOR,
        sub=site.provider.sub,
        sid=session,
        request_id=response.headers["X-Request-Id"],
    )
    assert_free_of(record, *secrets)


def test_a_revoked_session_is_refused(site: Site, trail: Trail) -> None:
    browser, session = site.signed_in()
    copy = site.browser()
    copy.set_cookie(SESSION_COOKIE, browser.cookies[SESSION_COOKIE])
    sign_out(browser)
    trail.take()
    copy.get("/account", status=303)
    record = trail.one("session.refused")
    assert_event(record, reason="revoked", detail="session_revoked", sid=session)
    assert_free_of(record, *site.secrets(copy))


@pytest.mark.parametrize(
    ("forge", "reason", "detail"),
    [
        (
            lambda value: value[:-4] + ("AAAA" if value[-4:] != "AAAA" else "BBBB"),
            "tampered",
            "bad_signature",
        ),
        (lambda value: "garbage." + value.split(".", 1)[1], "invalid", "malformed_token_or_header"),
    ],
    ids=["signature", "header"],
)
def test_a_forged_session_is_refused_and_names_no_one(
    site: Site, trail: Trail, forge: Callable[[str], str], reason: str, detail: str
) -> None:
    browser, _ = site.signed_in()
    forged = forge(browser.cookies[SESSION_COOKIE])
    browser.set_cookie(SESSION_COOKIE, forged)
    trail.take()
    browser.get("/account", status=303)
    record = trail.one("session.refused")
    assert_event(record, reason=reason, detail=detail, sub=None, sid=None)
    assert_free_of(record, forged, *site.secrets(browser))


def test_a_session_from_an_unknown_key_is_refused(site: Site, trail: Trail) -> None:
    from loginsite.session import SessionCodec
    from loginsite.settings import SessionKey

    stranger = SessionCodec([SessionKey("k9", b"s" * 32)], idle_timeout=IDLE, max_age=4 * IDLE)
    value, _ = stranger.mint(site.provider.sub, email=site.provider.email, acr=ACR_AUTH_ONLY)
    browser = site.browser()
    browser.set_cookie(SESSION_COOKIE, value)
    browser.get("/account", status=303)
    record = trail.one("session.refused")
    assert_event(record, reason="unknown_key", detail="unknown_key_id", sub=None, sid=None)
    assert_free_of(record, value, site.provider.email)


def test_a_session_that_cannot_be_checked_is_refused_as_unverifiable(
    site: Site, trail: Trail
) -> None:
    browser, session = site.signed_in()
    site.store.reads_down = True
    trail.take()
    browser.get("/account", status=503)
    record = trail.one("session.refused")
    assert_event(record, reason="unverifiable", detail="revocation_list_unavailable", sid=session)
    assert_free_of(record, *site.secrets(browser))


# -- CSRF --------------------------------------------------------------------------------------


def test_a_post_without_its_csrf_token_is_refused(site: Site, trail: Trail) -> None:
    browser, session = site.signed_in()
    trail.take()
    response = browser.post("/auth/logout", {}, headers=SAME_SITE, status=400)
    record = trail.one("csrf.refused")
    assert_event(
        record,
        outcome="failure",
        reason="bad_token",
        component="csrf",
        path="/auth/logout",
        client_addr=VISITOR,
        sub=site.provider.sub,
        sid=session,
        request_id=response.headers["X-Request-Id"],
        method="POST",
    )
    assert_free_of(record, *site.secrets(browser))


def test_a_cross_origin_post_is_refused(site: Site, trail: Trail) -> None:
    browser = site.browser()
    token = "a-csrf-token-this-browser-holds-0123456789"
    browser.set_cookie("__Host-csrf", token)
    browser.post(
        "/auth/logout",
        {"csrf_token": token},
        headers={"Origin": "https://attacker.example"},
        status=400,
    )
    record = trail.one("csrf.refused")
    assert_event(record, reason="bad_origin", sub=None, sid=None)
    assert_free_of(record, token)


@pytest.fixture
def behind_proxy(
    make_app: Callable[..., Any], live_server: Callable[[], LiveServer]
) -> Callable[[str], LiveServer]:
    """production configuration, served by waitress with production.ini's proxy settings."""

    def serve(trusted_proxy: str) -> LiveServer:
        app = make_app(
            **{
                "loginsite.environment": "production",
                "loginsite.public_url": "https://apply.example.gov",
                "loginsite.session.secure": "true",
                "loginsite.idp.allow_http": "false",
                "loginsite.idp.issuer": "https://127.0.0.1:9/",
                "loginsite.revocation.accept_unshared": "true",
            }
        )
        return live_server().start(app, **production_proxy_options(trusted_proxy))

    return serve


def post_through_proxy(server: LiveServer, forwarded_for: str) -> requests.Response:
    return requests.post(
        server.url + "/auth/logout",
        data={"csrf_token": "not-the-one"},
        headers={
            "Host": "apply.example.gov",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": forwarded_for,
            "Origin": "https://attacker.example",
        },
        allow_redirects=False,
        timeout=5,
    )


def test_behind_the_trusted_proxy_the_source_is_the_visitor(
    behind_proxy: Callable[[str], LiveServer], trail: Trail
) -> None:
    server = behind_proxy("127.0.0.1")
    trail.take()
    # A visitor may send its own X-Forwarded-For; the proxy appends the address it saw.
    response = post_through_proxy(server, "192.0.2.66, 203.0.113.7")
    assert response.status_code == 400
    record = trail.one("csrf.refused")
    assert_event(record, reason="bad_origin", client_addr="203.0.113.7")


def test_from_an_untrusted_peer_forwarding_headers_are_not_believed(
    behind_proxy: Callable[[str], LiveServer], trail: Trail
) -> None:
    server = behind_proxy("127.0.0.2")
    trail.take()
    assert post_through_proxy(server, "203.0.113.7").status_code == 400  # no token
    record = trail.one("csrf.refused")
    assert_event(record, reason="bad_token", client_addr="127.0.0.1")


# -- start-up ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ring", "key_ids", "signing", "verify_only"),
    [
        (f"k2:{SECRET_1} k1:{SECRET_2}:verify", ["k2", "k1"], "k2", ["k1"]),
        # A rolling deploy's first stage: the new key deployed everywhere, verify-only.
        (f"k3:{SECRET_3}:verify k2:{SECRET_1}", ["k3", "k2"], "k2", ["k3"]),
        (f"k2:{SECRET_1}", ["k2"], "k2", []),
    ],
    ids=["signing-first", "new-key-verify-only", "one-key"],
)
def test_start_up_records_the_key_ring_by_key_id_only(
    make_app: Callable[..., Any],
    trail: Trail,
    ring: str,
    key_ids: list[str],
    signing: str,
    verify_only: list[str],
) -> None:
    trail.take()
    make_app(**{"loginsite.session.keys": ring})
    record = trail.one("session.key_ring")
    assert_event(
        record,
        outcome="success",
        reason="loaded",
        component="startup",
        path=None,
        client_addr=None,
        sub=None,
        sid=None,
        request_id="-",
        key_ids=key_ids,
        signing_key_id=signing,
        verify_only_key_ids=verify_only,
    )
    assert_free_of(record, SECRET_1, SECRET_2, SECRET_3)


# -- routing: production.ini and development.ini -----------------------------------------------


def test_production_ini_sends_the_trail_as_json_to_a_sink_of_its_own(
    ini_logging: Callable[[str], io.StringIO],  # noqa: F811 - the fixture imported above
    make_app: Callable[..., Any],
) -> None:
    app = webtest.TestApp(make_app(), extra_environ={"HTTP_HOST": "localhost:6543"})
    console = ini_logging("production.ini")
    (sink,) = logging.getLogger(audit.AUDIT_LOGGER).handlers
    assert sink.stream is sys.stdout  # apart from the operational log on stderr
    trail_buffer = io.StringIO()
    sink.setStream(trail_buffer)
    response = app.get("/", headers={"Cookie": "loginsite=garbage.garbage.garbage"})
    (line,) = [json.loads(x) for x in trail_buffer.getvalue().splitlines()]
    assert set(audit.FIELDS) <= set(line)
    assert line["event"] == "session.refused"
    assert line["name"] == "loginsite.audit"
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert (line["outcome"], line["reason"], line["sub"]) == ("failure", "invalid", None)
    assert "garbage.garbage" not in trail_buffer.getvalue()
    operational = [json.loads(x) for x in console.getvalue().splitlines()]
    assert operational  # the operational session.refused line and the access line
    assert not [x for x in operational if x["name"] == "loginsite.audit"]


def test_development_ini_shows_the_trail_as_readable_text(
    ini_logging: Callable[[str], io.StringIO],  # noqa: F811 - the fixture imported above
    make_app: Callable[..., Any],
) -> None:
    app = webtest.TestApp(make_app(), extra_environ={"HTTP_HOST": "localhost:6543"})
    console = ini_logging("development.ini")
    response = app.get("/", headers={"Cookie": "loginsite=garbage.garbage.garbage"})
    (line,) = [x for x in console.getvalue().splitlines() if "[loginsite.audit]" in x]
    assert f"[{response.headers['X-Request-Id']}]" in line
    assert "session.refused failure reason=invalid detail=malformed_token_or_header" in line
    assert "component=session path=/" in line


# -- loginsite-revoke --------------------------------------------------------------------------

ALICE = "6f1c1b52-8a6e-4d0b-9a53-2b6f7d3c2e11"
SESSION = "Zr9W1Yk3pQ-x_8tUv2mN4a"


@pytest.fixture
def revoke_ini(tmp_path: Path, client_key_file: Path) -> Callable[..., Path]:
    """An app INI file whose logging config sends loginsite.audit to a file of its own."""

    def write(**revocation: str) -> Path:
        path = tmp_path / "app.ini"
        path.write_text(
            "\n".join(
                [
                    "[app:main]",
                    "use = egg:loginsite",
                    "loginsite.environment = development",
                    "loginsite.public_url = http://localhost:6543",
                    f"loginsite.session.keys = k1:{SECRET_1}",
                    "loginsite.session.secure = false",
                    "loginsite.idp.issuer = http://127.0.0.1:9/",
                    "loginsite.idp.client_id = urn:gov:gsa:openidconnect.profiles:sp:sso:t:l",
                    f"loginsite.idp.private_key = {client_key_file}",
                    "loginsite.idp.allow_http = true",
                    "loginsite.revocation.key_prefix = audit-test:",
                    "loginsite.revocation.redis_timeout = 0.5",
                    *(f"loginsite.revocation.{k} = {v}" for k, v in revocation.items()),
                    "",
                    "[loggers]",
                    "keys = root, audit",
                    "[handlers]",
                    "keys = console, audit",
                    "[formatters]",
                    "keys = json",
                    "[logger_root]",
                    "level = WARN",
                    "handlers = console",
                    "[logger_audit]",
                    "level = INFO",
                    "handlers = audit",
                    "propagate = 0",
                    "qualname = loginsite.audit",
                    "[handler_console]",
                    "class = StreamHandler",
                    "args = (sys.stderr,)",
                    "formatter = json",
                    "[handler_audit]",
                    "class = logging.handlers.WatchedFileHandler",
                    "args = ('%(here)s/audit.log',)",
                    "formatter = json",
                    "[formatter_json]",
                    "class = pythonjsonlogger.json.JsonFormatter",
                    "format = %(asctime)s %(levelname)s %(name)s %(message)s",
                ]
            )
            + "\n"
        )
        return path

    return write


def run_revoke(ini: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    """The installed console script, as an operator runs it through sudo; its audit lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGINSITE_")}
    env["SUDO_USER"] = "alice-the-admin"
    script = Path(sys.executable).parent / "loginsite-revoke"
    done = subprocess.run(
        [str(script), str(ini), *args], env=env, capture_output=True, text=True, timeout=60
    )
    log = ini.parent / "audit.log"
    lines = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    return done, lines


def assert_operator_event(line: dict[str, Any], **expected: Any) -> None:
    assert set(audit.FIELDS) <= set(line)
    assert line["event"] == "operator.revoke"
    assert line["component"] == "loginsite-revoke"
    assert (line["path"], line["client_addr"]) == (None, None)
    assert line["os_user"] == pwd.getpwuid(os.geteuid()).pw_name
    assert line["os_uid"] == os.geteuid()
    assert line["sudo_user"] == "alice-the-admin"
    assert line["host"] == socket.gethostname()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["event_time"])
    for name, value in expected.items():
        assert line[name] == value, (name, line[name], value)


@pytest.mark.redis
def test_each_revocation_by_the_command_is_one_event_naming_the_os_user(
    revoke_ini: Callable[..., Path], redis_server: RedisServer
) -> None:
    ini = revoke_ini(store="redis", redis_url=redis_server.url)
    done, lines = run_revoke(ini, "--sub", ALICE.upper(), "--jti", SESSION)
    assert done.returncode == 0, done.stderr
    user, session = lines
    assert_operator_event(
        user, outcome="success", reason="revoked", scope="user", sub=ALICE, sid=None
    )
    assert_operator_event(
        session, outcome="success", reason="revoked", scope="session", sub=None, sid=SESSION
    )
    assert user["request_id"] == session["request_id"] != "-"  # one run, one id
    assert SECRET_1 not in (ini.parent / "audit.log").read_text()


def test_a_revocation_that_could_not_reach_redis_is_a_failure_event(
    revoke_ini: Callable[..., Path],
) -> None:
    ini = revoke_ini(store="redis", redis_url="redis://:hunter2-password@127.0.0.1:9/0")
    done, lines = run_revoke(ini, "--jti", SESSION)
    assert done.returncode == 1
    (line,) = lines
    assert_operator_event(line, outcome="failure", reason="redis_unreachable", sid=SESSION)
    assert "hunter2-password" not in (ini.parent / "audit.log").read_text()
    assert "hunter2-password" not in done.stderr


def test_a_revocation_with_a_store_the_command_cannot_reach_is_a_failure_event(
    revoke_ini: Callable[..., Path],
) -> None:
    done, lines = run_revoke(revoke_ini(store="memory"), "--sub", ALICE)
    assert done.returncode == 2
    (line,) = lines
    assert_operator_event(
        line, outcome="failure", reason="store_not_shared", detail="memory", sub=ALICE
    )


def test_arguments_that_are_refused_write_no_event(revoke_ini: Callable[..., Path]) -> None:
    """An email address given as --sub revokes nothing, and is never written anywhere."""
    done, lines = run_revoke(revoke_ini(store="memory"), "--sub", "bob@example.gov")
    assert done.returncode == 2
    assert lines == []


# -- the event vocabulary ----------------------------------------------------------------------


def test_an_unknown_event_name_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="not an audit event"):
        audit.record("auth.signed_in", audit.SUCCESS, "ok", audit.Origin("auth"))


def test_reason_codes_drop_quoted_values() -> None:
    assert audit.code("wrong algorithm 'none' (only HS256)") == "wrong_algorithm"
    assert audit.code("carries a 'jwk' header (keys never come from the token)") == (
        "carries_a_header"
    )
    assert audit.code("ProviderTimeout") == "provider_timeout"


def test_the_readme_documents_every_event_and_field() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Audit trail", 1)[1].split("\n## ", 1)[0]
    for name in [*audit.EVENTS, *audit.FIELDS]:
        assert f"`{name}`" in section, name
    for name in (
        "acr",
        "replaced_sid",
        "method",
        "scope",
        "os_user",
        "os_uid",
        "sudo_user",
        "key_ids",
        "signing_key_id",
        "verify_only_key_ids",
        "set_type",
        "set_jti",
        "action",
    ):
        assert f"`{name}`" in section, name


@pytest.fixture(autouse=True)
def _no_stray_logging_config() -> Iterator[None]:
    """Every test here leaves the audit logger propagating to pytest's capture."""
    yield
    assert logging.getLogger(audit.AUDIT_LOGGER).propagate
