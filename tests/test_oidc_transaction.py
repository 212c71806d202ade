"""Sign-in transactions, their signed cookie, and the return-to path."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets

import jwt
import pytest

from loginsite.oidc import LoginTransaction, TransactionJar, sanitize_next
from tests.plugins.clock import FakeClock

KEY_1 = ("t1", secrets.token_bytes(32))
KEY_2 = ("t2", secrets.token_bytes(32))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def jar(clock: FakeClock) -> TransactionJar:
    return TransactionJar([KEY_1], clock=clock)


def new_txn(clock: FakeClock, next_path: str = "/account") -> LoginTransaction:
    return LoginTransaction.new(
        next_path=next_path,
        acr_values=("urn:acr.login.gov:auth-only",),
        created_at=int(clock()),
        locale="en",
    )


# -- LoginTransaction ---------------------------------------------------------------------


def test_new_transactions_are_random_and_long_enough(clock: FakeClock) -> None:
    many = [new_txn(clock) for _ in range(20)]

    for name in ("state", "nonce", "code_verifier"):
        values = {getattr(t, name) for t in many}
        assert len(values) == 20
        assert all(len(v) >= 43 for v in values)
    assert all(len({t.state, t.nonce, t.code_verifier}) == 3 for t in many)


def test_code_challenge_is_s256_of_the_verifier(clock: FakeClock) -> None:
    txn = new_txn(clock)
    expected = base64.urlsafe_b64encode(hashlib.sha256(txn.code_verifier.encode()).digest())

    assert txn.code_challenge == expected.rstrip(b"=").decode()
    assert "=" not in txn.code_challenge


def test_rfc7636_appendix_b_example() -> None:
    txn = LoginTransaction(
        state="s",
        nonce="n",
        code_verifier="dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        next_path="/",
        acr_values=(),
        created_at=0,
    )

    assert txn.code_challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_new_sanitizes_next_path(clock: FakeClock) -> None:
    assert new_txn(clock, next_path="https://evil.example/").next_path == "/account"


# -- TransactionJar -----------------------------------------------------------------------


def test_add_then_take_round_trips(jar: TransactionJar, clock: FakeClock) -> None:
    txn = new_txn(clock, "/account/settings?tab=2")
    cookie = jar.add(None, txn)

    found, new_cookie, reason = jar.take(cookie, txn.state)

    assert found == txn
    assert new_cookie is None  # nothing left: delete the cookie
    assert reason == "ok"


def test_take_is_single_use(jar: TransactionJar, clock: FakeClock) -> None:
    first, second = new_txn(clock), new_txn(clock)
    cookie = jar.add(jar.add(None, first), second)

    found, cookie_after, _ = jar.take(cookie, first.state)
    assert found == first
    assert cookie_after is not None

    again, _, reason = jar.take(cookie_after, first.state)
    assert again is None
    assert reason == "unknown state"

    other, _, _ = jar.take(cookie_after, second.state)
    assert other == second


def test_two_tabs_can_sign_in_at_once(jar: TransactionJar, clock: FakeClock) -> None:
    tab_a, tab_b = new_txn(clock, "/a"), new_txn(clock, "/b")
    cookie = jar.add(jar.add(None, tab_a), tab_b)

    found_b, cookie, _ = jar.take(cookie, tab_b.state)
    found_a, cookie, _ = jar.take(cookie, tab_a.state)

    assert (found_a, found_b) == (tab_a, tab_b)
    assert cookie is None


def test_the_oldest_is_dropped_beyond_the_cap(clock: FakeClock) -> None:
    jar = TransactionJar([KEY_1], max_pending=3, clock=clock)
    txns = [new_txn(clock) for _ in range(4)]
    cookie = None
    for txn in txns:
        cookie = jar.add(cookie, txn)
        clock.advance(1)

    assert jar.take(cookie, txns[0].state)[0] is None
    for txn in txns[1:]:
        assert jar.take(cookie, txn.state)[0] == txn


def test_the_cookie_stays_under_the_browser_limit(clock: FakeClock) -> None:
    jar = TransactionJar([KEY_1], max_pending=5, clock=clock)
    cookie = None
    for _ in range(5):
        cookie = jar.add(cookie, new_txn(clock, "/" + "a" * 500))

    assert cookie is not None
    assert len(cookie) <= TransactionJar.MAX_COOKIE_BYTES


def test_transactions_expire_after_ten_minutes(jar: TransactionJar, clock: FakeClock) -> None:
    old = new_txn(clock)
    cookie = jar.add(None, old)
    clock.advance(599)
    young = new_txn(clock)
    cookie = jar.add(cookie, young)
    clock.advance(2)

    found, _, reason = jar.take(cookie, old.state)
    assert found is None
    assert reason == "expired"
    assert jar.take(cookie, young.state)[0] == young


def test_expired_transactions_are_dropped_when_adding(
    jar: TransactionJar, clock: FakeClock
) -> None:
    old = new_txn(clock)
    cookie = jar.add(None, old)
    clock.advance(601)
    cookie = jar.add(cookie, new_txn(clock))

    payload = jwt.decode(cookie, options={"verify_signature": False})
    assert [t["s"] for t in payload["txns"]] != [old.state]
    assert old.state not in {t["s"] for t in payload["txns"]}


def test_key_rotation_keeps_pending_sign_ins(clock: FakeClock) -> None:
    old_jar = TransactionJar([KEY_1], clock=clock)
    txn = new_txn(clock)
    cookie = old_jar.add(None, txn)
    rotated = TransactionJar([KEY_2, KEY_1], clock=clock)

    assert rotated.take(cookie, txn.state)[0] == txn
    assert jwt.get_unverified_header(rotated.add(None, txn))["kid"] == "t2"


def test_a_retired_key_no_longer_verifies(clock: FakeClock) -> None:
    txn = new_txn(clock)
    cookie = TransactionJar([KEY_1], clock=clock).add(None, txn)

    found, new_cookie, reason = TransactionJar([KEY_2], clock=clock).take(cookie, txn.state)

    assert (found, new_cookie, reason) == (None, None, "unknown key")


def test_the_cookie_is_an_hs256_jwt_with_its_own_typ_iss_aud(
    jar: TransactionJar, clock: FakeClock
) -> None:
    cookie = jar.add(None, new_txn(clock))

    header = jwt.get_unverified_header(cookie)
    payload = jwt.decode(cookie, options={"verify_signature": False})
    assert header == {"alg": "HS256", "kid": "t1", "typ": "loginsite-login-txn+jwt"}
    assert payload["iss"] == "loginsite"
    assert payload["aud"] == "loginsite:login-transaction"


def forge(payload: dict, header: dict, key: bytes) -> str:
    return jwt.encode(payload, key, algorithm="HS256", headers=header)


def genuine_payload(clock: FakeClock, txn: LoginTransaction) -> dict:
    now = int(clock())
    return {
        "iss": "loginsite",
        "aud": "loginsite:login-transaction",
        "iat": now,
        "exp": now + 600,
        "txns": [txn.to_claim()],
    }


GENUINE_HEADER = {"kid": "t1", "typ": "loginsite-login-txn+jwt"}


def test_a_correctly_forged_cookie_is_accepted(jar: TransactionJar, clock: FakeClock) -> None:
    """The control for the refusals below: each of them differs from this in one thing."""
    txn = new_txn(clock)

    cookie = forge(genuine_payload(clock, txn), GENUINE_HEADER, KEY_1[1])

    assert jar.take(cookie, txn.state)[0] == txn


@pytest.mark.parametrize(
    ("payload_changes", "header_changes", "reason"),
    [
        ({"aud": "loginsite:session"}, {}, "tampered"),
        ({"aud": ["loginsite:login-transaction", "x"]}, {}, "tampered"),
        ({"iss": "someone-else"}, {}, "tampered"),
        ({"exp": 1}, {}, "expired"),
        ({"txns": "nope"}, {}, "tampered"),
        ({"txns": None}, {}, "tampered"),
        ({}, {"typ": "JWT"}, "tampered"),
        ({}, {"kid": "t9"}, "unknown key"),
        ({}, {"crit": ["exp"]}, "tampered"),
    ],
)
def test_cookies_with_the_wrong_claims_or_header_are_refused(
    jar: TransactionJar,
    clock: FakeClock,
    payload_changes: dict,
    header_changes: dict,
    reason: str,
) -> None:
    txn = new_txn(clock)
    payload = {**genuine_payload(clock, txn), **payload_changes}
    cookie = forge(payload, {**GENUINE_HEADER, **header_changes}, KEY_1[1])

    assert jar.take(cookie, txn.state) == (None, None, reason)


def test_missing_required_claims_are_refused(jar: TransactionJar, clock: FakeClock) -> None:
    txn = new_txn(clock)
    for claim in ("iss", "aud", "iat", "exp", "txns"):
        payload = genuine_payload(clock, txn)
        del payload[claim]
        cookie = forge(payload, GENUINE_HEADER, KEY_1[1])
        assert jar.take(cookie, txn.state)[0] is None, claim


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_tampered_and_garbage_cookies_read_as_empty(jar: TransactionJar, clock: FakeClock) -> None:
    txn = new_txn(clock)
    cookie = jar.add(None, txn)
    head, body, sig = cookie.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["txns"][0]["p"] = "//evil.example/"
    cases = {
        "payload swapped": f"{head}.{b64(payload)}.{sig}",
        "signature flipped": f"{head}.{body}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}",
        "alg none": f"{b64({'alg': 'none', **GENUINE_HEADER})}.{body}.",
        "signed by another key": forge(payload, GENUINE_HEADER, secrets.token_bytes(32)),
        "garbage": "not a cookie",
        "three dots": "a.b.c",
        "oversized": "a" * 5000,
        "unicode": "ü.ü.ü",
    }
    for name, value in cases.items():
        found, new_cookie, reason = jar.take(value, txn.state)
        assert found is None, name
        assert new_cookie is None, name
        assert reason in ("tampered", "oversized"), name


def test_no_cookie(jar: TransactionJar) -> None:
    assert jar.take(None, "some-state") == (None, None, "no transaction cookie")
    assert jar.take("", "some-state") == (None, None, "no transaction cookie")


def test_missing_state_leaves_the_pending_ones(jar: TransactionJar, clock: FakeClock) -> None:
    txn = new_txn(clock)
    cookie = jar.add(None, txn)

    found, new_cookie, reason = jar.take(cookie, None)

    assert (found, reason) == (None, "no state in callback")
    assert jar.take(new_cookie, txn.state)[0] == txn


def test_adding_to_a_tampered_cookie_starts_afresh(jar: TransactionJar, clock: FakeClock) -> None:
    txn = new_txn(clock)

    cookie = jar.add("garbage.garbage.garbage", txn)

    assert jar.take(cookie, txn.state)[0] == txn


def test_malformed_entries_inside_a_genuine_cookie_are_skipped(
    jar: TransactionJar, clock: FakeClock
) -> None:
    txn = new_txn(clock)
    payload = genuine_payload(clock, txn)
    payload["txns"] = [
        {"s": "x"},
        "string",
        {**txn.to_claim(), "t": "yesterday"},
        {**txn.to_claim(), "a": "not-a-list"},
        txn.to_claim(),
    ]
    cookie = forge(payload, GENUINE_HEADER, KEY_1[1])

    assert jar.take(cookie, txn.state)[0] == txn


def test_weak_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        TransactionJar([("k", b"short")])
    with pytest.raises(ValueError, match="at least one key"):
        TransactionJar([])


# -- sanitize_next ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "/",
        "/account",
        "/account/settings?tab=2&x=y",
        "/search?q=a%20b",
        "/page#section",
        "/a/b/../c",
        "/caf%C3%A9",
        "/p:1@x",
        "/100%25",
    ],
)
def test_same_site_paths_are_kept(value: str) -> None:
    assert sanitize_next(value) == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "account",
        "//evil.example",
        "//evil.example/path",
        "///evil.example",
        "/\\evil.example",
        "/\\/evil.example",
        "\\evil.example",
        "/path\\more",
        "https://evil.example/",
        "http:/evil.example",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,hi",
        " /account",
        "/account ",
        "\t//evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "/\x00/evil.example",
        "/\x7f",
        "/%2F%2Fevil.example",
        "/%2f/evil.example",
        "/%5Cevil.example",
        "/%5c%5cevil.example",
        "%2F%2Fevil.example",
        "/%252F%252Fevil.example",
        "/%25252F%25252Fevil.example",
        "/%0d%0aSet-Cookie:x=y",
        "/%09/evil.example",
        "/%zz",
        "/%",
        "/caf\u00e9",
        "/\u2215\u2215evil.example",
        "/\uff0f\uff0fevil.example",
        "/" + "a" * 600,
        "/.\\evil.example",
    ],
)
def test_open_redirect_attempts_fall_back_to_the_default(value: str | None) -> None:
    assert sanitize_next(value) == "/account"


def test_the_default_is_configurable() -> None:
    assert sanitize_next("//evil.example", default="/") == "/"


# -- what the app signed itself, read back strictly (issue 16.9) -----------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("s", "\ud800" * 43),
        ("s", "short"),
        ("n", "n" * 42 + "\ud800"),
        ("v", "v" * 42 + " "),
        ("a", ["urn:acr.login.gov:auth-only\ud800"]),
        ("a", ["x"] * 9),
        ("l", "xx"),
        ("l", "\udcff"),
        ("t", -1),
        ("p", 5),
    ],
)
def test_malformed_fields_in_a_self_signed_cookie_read_as_no_transaction(
    jar: TransactionJar, clock: FakeClock, field: str, value: object
) -> None:
    txn = new_txn(clock)
    payload = genuine_payload(clock, txn)
    payload["txns"] = [{**txn.to_claim(), field: value}]
    cookie = forge(payload, GENUINE_HEADER, KEY_1[1])

    found, _, reason = jar.take(cookie, txn.state)

    assert found is None
    assert reason in ("unknown state", "expired")  # a reason for the log, never an exception
    assert jar.pending(cookie) == []


@pytest.mark.parametrize("state", ["\ud800" * 43, "s" * 43 + "\udfff", "%00"])
def test_a_lone_surrogate_in_either_state_is_no_match_not_an_error(
    jar: TransactionJar, clock: FakeClock, state: str
) -> None:
    txn = new_txn(clock)
    payload = genuine_payload(clock, txn)
    payload["txns"] = [{**txn.to_claim(), "s": state}]  # also read by the "expired?" check
    cookie = forge(payload, GENUINE_HEADER, KEY_1[1])

    assert jar.take(cookie, state)[0] is None
    assert jar.take(jar.add(None, txn), state)[0] is None


@pytest.mark.parametrize(
    "next_path", ["@evil.example", "//evil.example/", "/a\r\nLocation: x", "/é", "https://x/"]
)
def test_next_is_sanitized_again_when_the_transaction_is_read(
    jar: TransactionJar, clock: FakeClock, next_path: str
) -> None:
    txn = new_txn(clock)
    payload = genuine_payload(clock, txn)
    payload["txns"] = [{**txn.to_claim(), "p": next_path}]
    cookie = forge(payload, GENUINE_HEADER, KEY_1[1])

    found, _, _ = jar.take(cookie, txn.state)

    assert found is not None
    assert found.next_path == "/account"


def test_pending_lists_the_live_transactions(jar: TransactionJar, clock: FakeClock) -> None:
    txn = new_txn(clock)
    cookie = jar.add(None, txn)

    assert jar.pending(cookie) == [txn]
    assert jar.pending(None) == []
    assert jar.pending("garbage") == []
    clock.advance(601)
    assert jar.pending(cookie) == []
