"""POST /api/security-events over real HTTP: the app on waitress, SETs signed by a live provider.

Every verification rule is refused by its own test (400, the RFC 8935 error code, a log line
with the reason, and no session ended), and every accepted event does what its action says.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from pyramid.interfaces import ISecurityPolicy

from loginsite.oidc.security_event import EVENT_TYPES
from loginsite.revocation import RevocationUnavailable
from loginsite.revocation.memory import MemoryRevocationStore
from loginsite.security_events import RECEIVER_KEY, SecurityEventReceiver
from loginsite.settings import SECURITY_EVENTS_PATH, SecurityEventSettings
from tests.plugins.live_server import LiveServer
from tests.plugins.oidc_provider import REMOVE, TestProvider, merge

SUB = "7c0e5f7a-1111-4222-8333-0123456789ab"
OTHER_SUB = "7c0e5f7a-9999-4222-8333-0123456789ab"
SET_CONTENT_TYPE = "application/secevent+jwt"
SESSION_ENDING = (
    "account-disabled",
    "account-purged",
    "mfa-limit-account-locked",
    "password-reset",
    "recovery-activated",
)
RECORD_ONLY = ("account-enabled", "recovery-information-changed", "reproof-completed")


@dataclass
class App:
    """One running app instance and what tests need to talk to it."""

    server: LiveServer
    wsgi: Any

    @property
    def endpoint(self) -> str:
        return self.server.url + SECURITY_EVENTS_PATH

    def post(self, body: str | bytes, content_type: str = SET_CONTENT_TYPE, **kw: Any) -> Any:
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        headers.update(kw.pop("headers", {}))
        return requests.post(self.endpoint, data=body, headers=headers, timeout=10, **kw)

    def session_for(self, sub: str = SUB) -> str:
        policy = self.wsgi.registry.getUtility(ISecurityPolicy)
        value, _ = policy.codec.mint(sub, email="a@example.gov", acr="urn:acr.login.gov:auth-only")
        return str(value)

    def signed_in(self, cookie: str) -> bool:
        response = requests.get(
            self.server.url + "/account",
            cookies={"loginsite": cookie},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code in (200, 303), response.status_code
        return response.status_code == 200


@pytest.fixture
def start_app(
    make_app: Callable[..., Any],
    live_server: Callable[[], LiveServer],
    test_provider: TestProvider,
    tmp_path: Path,
) -> Callable[..., App]:
    key_file = tmp_path / "client.pem"
    key_file.write_bytes(test_provider.client_private_key_pem)

    def start(**overrides: str) -> App:
        server = live_server()
        wsgi = make_app(
            **{
                "loginsite.public_url": server.url,
                "loginsite.idp.issuer": test_provider.issuer,
                "loginsite.idp.client_id": test_provider.client_id,
                "loginsite.idp.private_key": str(key_file),
                **overrides,
            }
        )
        server.start(wsgi)
        return App(server, wsgi)

    return start


@pytest.fixture
def app(start_app: Callable[..., App]) -> App:
    return start_app()


def set_claims(
    provider: TestProvider, app: App, event: str = "account-disabled", **overrides: Any
) -> dict[str, Any]:
    now = int(time.time())
    event_type = EVENT_TYPES.get(event, event)
    claims = {
        "iss": provider.issuer,
        "aud": app.endpoint,
        "iat": now,
        "exp": now + 12 * 3600,
        "jti": secrets.token_hex(16),
        "events": {
            event_type: {"subject": {"subject_type": "iss-sub", "iss": provider.issuer, "sub": SUB}}
        },
    }
    return merge(claims, overrides)


def make_set(
    provider: TestProvider,
    app: App,
    event: str = "account-disabled",
    *,
    header: dict[str, Any] | None = None,
    **sign: Any,
) -> str:
    claims = sign.pop("claims", None) or set_claims(provider, app, event)
    return provider.sign(claims, header={"typ": "secevent+jwt", **(header or {})}, **sign)


def assert_refused(response: Any, err: str, caplog: pytest.LogCaptureFixture, reason: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["err"] == err
    assert reason in body["description"]
    refusals = [
        r.getMessage() for r in caplog.records if "security_event.refused" in r.getMessage()
    ]
    assert refusals, caplog.text
    assert reason in refusals[-1]
    audit = last_audit(caplog)
    assert (audit.outcome, audit.reason, audit.action) == ("failure", err, "none")


def last_audit(caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    """The audit trail's event for the last delivery (fields: loginsite.operations.audit)."""
    audits = [
        r
        for r in caplog.records
        if r.name == "loginsite.audit" and r.event == "security_event.received"
    ]
    assert audits, caplog.text
    return audits[-1]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="loginsite")
    return caplog


# -- accepted events --------------------------------------------------------------------------


@pytest.mark.parametrize("event", SESSION_ENDING)
def test_a_session_ending_event_ends_every_session_of_its_sub(
    app: App, test_provider: TestProvider, event: str, logs: pytest.LogCaptureFixture
) -> None:
    phone, laptop, other = app.session_for(), app.session_for(), app.session_for(OTHER_SUB)
    assert app.signed_in(phone)
    assert app.signed_in(laptop)
    response = app.post(make_set(test_provider, app, event))
    assert response.status_code == 202, response.text
    assert response.content == b""
    assert not app.signed_in(phone)
    assert not app.signed_in(laptop)
    assert app.signed_in(other)
    audit = last_audit(logs)
    assert (audit.set_type, audit.sub, audit.action) == (event, SUB, "end-sessions")
    assert (audit.outcome, audit.reason) == ("success", "sessions_ended")
    assert audit.request_id == response.headers["X-Request-Id"]
    assert (audit.component, audit.path) == ("security_events", "/api/security-events")
    assert audit.client_addr == "127.0.0.1"


@pytest.mark.parametrize("event", RECORD_ONLY)
def test_a_record_only_event_keeps_the_sessions(
    app: App, test_provider: TestProvider, event: str, logs: pytest.LogCaptureFixture
) -> None:
    cookie = app.session_for()
    response = app.post(make_set(test_provider, app, event))
    assert response.status_code == 202, response.text
    assert app.signed_in(cookie)
    audit = last_audit(logs)
    assert (audit.set_type, audit.sub, audit.action) == (event, SUB, "record")
    assert (audit.outcome, audit.reason) == ("success", "recorded")


def test_a_record_only_event_can_be_configured_to_end_sessions(
    start_app: Callable[..., App], test_provider: TestProvider
) -> None:
    app = start_app(**{"loginsite.security_events.actions": "reproof-completed = end-sessions"})
    cookie = app.session_for()
    assert app.post(make_set(test_provider, app, "reproof-completed")).status_code == 202
    assert not app.signed_in(cookie)


def test_a_session_ending_event_can_be_configured_to_record_only(
    start_app: Callable[..., App], test_provider: TestProvider
) -> None:
    app = start_app(**{"loginsite.security_events.actions": "password-reset=record"})
    cookie = app.session_for()
    assert app.post(make_set(test_provider, app, "password-reset")).status_code == 202
    assert app.signed_in(cookie)


def test_an_unknown_event_type_is_accepted_and_recorded(
    app: App, test_provider: TestProvider, logs: pytest.LogCaptureFixture
) -> None:
    cookie = app.session_for()
    unknown = "https://schemas.example.gov/secevent/event-type/something-new"
    response = app.post(make_set(test_provider, app, unknown))
    assert response.status_code == 202, response.text
    assert app.signed_in(cookie)
    audit = last_audit(logs)
    assert (audit.set_type, audit.reason) == (unknown, "recorded")


@pytest.mark.parametrize("event", ["identifier-recycled", "identifier-changed"])
def test_an_email_subject_is_accepted_but_names_no_sub_and_is_never_logged(
    app: App, test_provider: TestProvider, event: str, logs: pytest.LogCaptureFixture
) -> None:
    # login.gov sends these two with {"subject_type": "email", "email": ...} (its code).
    cookie = app.session_for()
    claims = set_claims(test_provider, app, event)
    claims["events"] = {
        EVENT_TYPES[event]: {"subject": {"subject_type": "email", "email": "bob@example.gov"}}
    }
    response = app.post(make_set(test_provider, app, claims=claims))
    assert response.status_code == 202, response.text
    assert app.signed_in(cookie)
    audit = last_audit(logs)
    assert (audit.set_type, audit.sub) == (event, None)
    assert (audit.action, audit.outcome, audit.reason) == {
        "identifier-recycled": ("end-sessions", "failure", "no_sub"),
        "identifier-changed": ("record", "success", "recorded"),
    }[event]
    assert "bob@example.gov" not in logs.text


def test_the_audience_may_be_the_client_id(app: App, test_provider: TestProvider) -> None:
    # login.gov puts the client_id in aud for the partners it has configured that way.
    claims = set_claims(test_provider, app, aud=test_provider.client_id)
    assert app.post(make_set(test_provider, app, claims=claims)).status_code == 202


def test_the_subject_iss_may_lack_the_trailing_slash(app: App, test_provider: TestProvider) -> None:
    # login.gov's documentation shows the subject's iss without it (its code sends it with).
    claims = set_claims(test_provider, app)
    subject = next(iter(claims["events"].values()))["subject"]
    subject["iss"] = test_provider.issuer.rstrip("/")
    cookie = app.session_for()
    assert app.post(make_set(test_provider, app, claims=claims)).status_code == 202
    assert not app.signed_in(cookie)


def test_the_endpoint_never_reads_or_sets_the_session_cookie(
    app: App, test_provider: TestProvider
) -> None:
    # A tampered cookie would be cleared by any page that consulted the session.
    response = app.post(
        make_set(test_provider, app), cookies={"loginsite": "tampered.cookie.value"}
    )
    assert response.status_code == 202
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")


def test_a_key_rotated_in_after_start_is_fetched_once(
    app: App, test_provider: TestProvider
) -> None:
    assert app.post(make_set(test_provider, app)).status_code == 202
    test_provider.rotate_keys()
    assert app.post(make_set(test_provider, app)).status_code == 202
    assert len(test_provider.calls_to("jwks")) == 2


def test_other_methods_are_not_allowed(app: App) -> None:
    response = requests.get(app.endpoint, timeout=10)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


# -- refused: one verification rule each ---------------------------------------------------


def test_refused_signed_by_a_key_not_in_the_jwks(
    app: App, test_provider: TestProvider, stranger_key: rsa.RSAPrivateKey, logs: Any
) -> None:
    cookie = app.session_for()
    response = app.post(make_set(test_provider, app, key=stranger_key))
    assert_refused(response, "authentication_failed", logs, "signature does not verify")
    assert app.signed_in(cookie)


def test_refused_with_an_unknown_kid(
    app: App, test_provider: TestProvider, stranger_key: rsa.RSAPrivateKey, logs: Any
) -> None:
    token = make_set(test_provider, app, header={"kid": "not-published"}, key=stranger_key)
    assert_refused(app.post(token), "invalid_key", logs, "not in the JWKS")


@pytest.mark.parametrize("alg", ["none", "HS256", "rs256", "RS512"])
def test_refused_with_another_alg(
    app: App, test_provider: TestProvider, alg: str, logs: Any
) -> None:
    signing_alg = {"rs256": "RS256", "RS512": "RS256"}.get(alg, alg)
    # HS256 keyed with the provider's public key: the classic algorithm confusion attack.
    key = test_provider.public_pem() if alg == "HS256" else None
    token = make_set(test_provider, app, alg=alg, signing_alg=signing_alg, key=key)
    cookie = app.session_for()
    assert_refused(app.post(token), "invalid_key", logs, f"alg {alg!r} is not RS256")
    assert app.signed_in(cookie)


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "application/secevent+jwt", REMOVE])
def test_refused_with_a_wrong_typ(
    app: App, test_provider: TestProvider, typ: Any, logs: Any
) -> None:
    token = make_set(test_provider, app, header={"typ": typ})
    assert_refused(app.post(token), "invalid_request", logs, "is not 'secevent+jwt'")


def test_refused_with_a_key_pointer_header(
    app: App, test_provider: TestProvider, logs: Any
) -> None:
    token = make_set(test_provider, app, header={"jku": "https://attacker.example/jwks"})
    assert_refused(app.post(token), "invalid_key", logs, "keys come from the JWKS only")


@pytest.mark.parametrize(
    "iss",
    ["https://attacker.example/", "TRAILING-SLASH-MISSING", REMOVE],
    ids=lambda v: "missing" if v is REMOVE else str(v),
)
def test_refused_with_a_wrong_issuer(
    app: App, test_provider: TestProvider, iss: Any, logs: Any
) -> None:
    if iss == "TRAILING-SLASH-MISSING":
        iss = test_provider.issuer.rstrip("/")
    claims = set_claims(test_provider, app, iss=iss)
    response = app.post(make_set(test_provider, app, claims=claims))
    if iss is REMOVE:
        assert_refused(response, "invalid_request", logs, "'iss' claim is missing")
    else:
        assert_refused(response, "invalid_issuer", logs, "iss is not the provider's issuer")


@pytest.mark.parametrize(
    "aud",
    ["https://other.example/api/security-events", "ENDPOINT-WITH-SLASH", ["x", "y"], REMOVE],
    ids=lambda v: "missing" if v is REMOVE else str(v),
)
def test_refused_with_a_wrong_audience(
    app: App, test_provider: TestProvider, aud: Any, logs: Any
) -> None:
    if aud == "ENDPOINT-WITH-SLASH":
        aud = app.endpoint + "/"
    claims = set_claims(test_provider, app, aud=aud)
    response = app.post(make_set(test_provider, app, claims=claims))
    if aud is REMOVE:
        assert_refused(response, "invalid_request", logs, "'aud' claim is missing")
    else:
        assert_refused(response, "invalid_audience", logs, "aud is not this endpoint")


@pytest.mark.parametrize("iss", ["https://attacker.example/", None])
def test_refused_with_a_wrong_subject_issuer(
    app: App, test_provider: TestProvider, iss: Any, logs: Any
) -> None:
    claims = set_claims(test_provider, app)
    next(iter(claims["events"].values()))["subject"]["iss"] = iss
    cookie = app.session_for()
    response = app.post(make_set(test_provider, app, claims=claims))
    assert_refused(response, "invalid_request", logs, "subject's iss is not the provider's")
    assert app.signed_in(cookie)


def test_refused_with_an_unknown_subject_type(
    app: App, test_provider: TestProvider, logs: Any
) -> None:
    claims = set_claims(test_provider, app)
    next(iter(claims["events"].values()))["subject"]["subject_type"] = "opaque"
    response = app.post(make_set(test_provider, app, claims=claims))
    assert_refused(response, "invalid_request", logs, "is not iss-sub or email")


def test_refused_when_expired(app: App, test_provider: TestProvider, logs: Any) -> None:
    now = int(time.time())
    claims = set_claims(test_provider, app, iat=now - 13 * 3600, exp=now - 3600)
    response = app.post(make_set(test_provider, app, claims=claims))
    assert_refused(response, "invalid_request", logs, "has expired")


def test_expiry_has_leeway(app: App, test_provider: TestProvider) -> None:
    now = int(time.time())
    claims = set_claims(test_provider, app, iat=now - 3600, exp=now - 10)  # within 30 s
    assert app.post(make_set(test_provider, app, claims=claims)).status_code == 202


def test_refused_when_issued_in_the_future(
    app: App, test_provider: TestProvider, logs: Any
) -> None:
    now = int(time.time())
    claims = set_claims(test_provider, app, iat=now + 600, exp=now + 3600)
    response = app.post(make_set(test_provider, app, claims=claims))
    assert_refused(response, "invalid_request", logs, "iat")


@pytest.mark.parametrize("claim", ["exp", "iat", "jti", "events"])
def test_refused_without_a_required_claim(
    app: App, test_provider: TestProvider, claim: str, logs: Any
) -> None:
    claims = set_claims(test_provider, app, **{claim: REMOVE})
    response = app.post(make_set(test_provider, app, claims=claims))
    assert_refused(response, "invalid_request", logs, f"{claim!r} claim is missing")


def test_refused_when_living_longer_than_a_day(
    app: App, test_provider: TestProvider, logs: Any
) -> None:
    now = int(time.time())
    claims = set_claims(test_provider, app, exp=now + 30 * 86400)
    response = app.post(make_set(test_provider, app, claims=claims))
    assert_refused(response, "invalid_request", logs, "more than 86400 seconds after iat")


def test_refused_when_replayed(app: App, test_provider: TestProvider, logs: Any) -> None:
    token = make_set(test_provider, app)
    assert app.post(token).status_code == 202
    time.sleep(1.1)  # the event ended sessions signed in up to its next whole second
    cookie = app.session_for()  # signed in after the event: a replay acting again ends it
    response = app.post(token)
    assert_refused_replay(response, logs)
    assert app.signed_in(cookie)


def assert_refused_replay(response: Any, logs: pytest.LogCaptureFixture) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["err"] == "invalid_request"
    assert "already received" in response.json()["description"]
    audit = last_audit(logs)
    assert (audit.outcome, audit.reason) == ("failure", "replayed")


@pytest.mark.parametrize("events", [2, 0, "not-an-object"], ids=str)
def test_refused_without_exactly_one_event(
    app: App, test_provider: TestProvider, events: Any, logs: Any
) -> None:
    claims = set_claims(test_provider, app)
    payload = {"subject": {"subject_type": "iss-sub", "iss": test_provider.issuer, "sub": SUB}}
    if events == 2:
        claims["events"] = {
            EVENT_TYPES["account-enabled"]: payload,
            EVENT_TYPES["account-purged"]: payload,
        }
    elif events == 0:
        claims["events"] = {}
    else:
        claims["events"] = events
    cookie = app.session_for()
    response = app.post(make_set(test_provider, app, claims=claims))
    assert_refused(response, "invalid_request", logs, "exactly one event")
    assert app.signed_in(cookie)


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/jwt", "text/plain", "", "secevent+jwt"]
)
def test_refused_with_a_wrong_content_type(
    app: App, test_provider: TestProvider, content_type: str, logs: Any
) -> None:
    response = app.post(make_set(test_provider, app), content_type=content_type)
    assert_refused(response, "invalid_request", logs, "content type must be")


def test_the_content_type_may_carry_parameters(app: App, test_provider: TestProvider) -> None:
    token = make_set(test_provider, app)
    assert app.post(token, content_type=SET_CONTENT_TYPE + "; charset=utf-8").status_code == 202


def test_refused_with_an_oversized_body(app: App, test_provider: TestProvider, logs: Any) -> None:
    claims = set_claims(test_provider, app, padding="x" * 10_000)
    response = app.post(make_set(test_provider, app, claims=claims))
    assert_refused(response, "invalid_request", logs, "body is over 8192 bytes")
    assert not test_provider.calls_to("jwks"), "nothing is fetched for an oversized body"


@pytest.mark.parametrize(
    "body",
    [b"", b"garbage", b"a.b.c", b"\xff\xfe.\x00.x", b"eyJhbGciOiJSUzI1NiJ9.e30.", b"{}"],
    ids=repr,
)
def test_refused_garbage(app: App, body: bytes, logs: Any) -> None:
    response = app.post(body)
    assert response.status_code == 400, response.text
    assert response.json()["err"] in ("invalid_request", "invalid_key")
    assert any("security_event.refused" in r.getMessage() for r in logs.records)


def test_a_post_without_a_csrf_token_is_still_handled(
    app: App, test_provider: TestProvider
) -> None:
    # Other POSTs without a CSRF token get the "form has expired" page; this one is
    # authenticated by its signature, so it reaches the verifier.
    response = app.post(make_set(test_provider, app), headers={"Origin": "https://evil.example"})
    assert response.status_code == 202


# -- when the SET cannot be verified or acted on ----------------------------------------------


def test_provider_keys_unavailable_is_a_503_not_a_refusal(
    app: App, test_provider: TestProvider, logs: pytest.LogCaptureFixture
) -> None:
    test_provider.respond("jwks", status=500, body="oops", content_type="text/plain")
    cookie = app.session_for()
    response = app.post(make_set(test_provider, app))
    assert response.status_code == 503
    assert "signing keys could not be fetched" in response.json()["description"]
    assert any("security_event.unverifiable" in r.getMessage() for r in logs.records)
    assert app.signed_in(cookie)


class UnavailableStore(MemoryRevocationStore):
    """A store that cannot record a revocation at all (not even in a journal)."""

    def revoke_user(self, sub: str, not_before: int, expires_at: int) -> None:
        raise RevocationUnavailable("journal full")


def test_an_action_that_cannot_be_recorded_is_a_503_and_tells_the_operator(
    app: App, test_provider: TestProvider, logs: pytest.LogCaptureFixture
) -> None:
    verifier = app.wsgi.registry[RECEIVER_KEY]._verifier
    receiver = SecurityEventReceiver(
        verifier, UnavailableStore(), SecurityEventSettings(), max_age=3600, leeway=30
    )
    receipt = receiver.receive(make_set(test_provider, app))
    assert receipt.status == 503
    errors = [r.getMessage() for r in logs.records if r.levelno == logging.ERROR]
    assert any("loginsite-revoke --sub" in m and SUB in m for m in errors)
    audit = last_audit(logs)
    assert (audit.sub, audit.outcome, audit.reason) == (SUB, "failure", "revocation_unavailable")


def test_with_the_none_store_the_audit_says_nothing_was_ended(
    start_app: Callable[..., App], test_provider: TestProvider, logs: pytest.LogCaptureFixture
) -> None:
    app = start_app(**{"loginsite.revocation.store": "none"})
    assert app.post(make_set(test_provider, app)).status_code == 202
    audit = last_audit(logs)
    assert (audit.outcome, audit.reason) == ("failure", "revocation_store_none")


def test_a_chunked_body_is_read_within_the_limit(app: App, test_provider: TestProvider) -> None:
    token = make_set(test_provider, app).encode()
    response = app.post(iter([token[:100], token[100:]]))  # no Content-Length: chunked
    assert response.status_code == 202, response.text


def test_a_chunked_oversized_body_is_refused(app: App, logs: pytest.LogCaptureFixture) -> None:
    response = app.post(iter([b"x" * 5000, b"y" * 5000]))
    assert_refused(response, "invalid_request", logs, "body is over 8192 bytes")
