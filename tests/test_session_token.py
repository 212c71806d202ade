"""SessionCodec: every rule of the token, with an injectable clock instead of sleeps."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import replace

import jwt
import pytest

from loginsite.credentials import new_session_key_entry
from loginsite.session.token import (
    AUDIENCE,
    ISSUER,
    MAX_TOKEN_BYTES,
    TOKEN_TYPE,
    InvalidSession,
    SessionCodec,
    SessionTooLarge,
)
from loginsite.settings import SessionKey, SessionSettings
from tests.plugins.clock import FakeClock

NOW = 1_790_000_000


def key(kid: str, *, verify_only: bool = False) -> SessionKey:
    return SessionKey(kid, secrets.token_bytes(32), verify_only=verify_only)


def signing(key: SessionKey) -> SessionKey:
    """The same key as the one key of an instance that signs with it."""
    return replace(key, verify_only=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def ring() -> list[SessionKey]:
    return [key("new"), key("old", verify_only=True)]


@pytest.fixture
def codec(ring: list[SessionKey], clock: FakeClock) -> SessionCodec:
    return SessionCodec(ring, idle_timeout=900, max_age=43200, clock=clock)


def claims_for(codec: SessionCodec, **changes: object) -> dict:
    value, _ = codec.mint("user-1", email="a@example.gov", acr="urn:acr.login.gov:auth-only")
    claims = jwt.decode(value, options={"verify_signature": False})
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def sign(
    claims: dict, secret: bytes, *, kid: str | None = "new", alg: str = "HS256", **header
) -> str:
    headers = {"typ": TOKEN_TYPE, **header} | ({"kid": kid} if kid is not None else {})
    return jwt.encode(claims, secret, algorithm=alg, headers=headers)


def test_mint_and_verify_round_trip(codec: SessionCodec, clock: FakeClock) -> None:
    value, minted = codec.mint("user-1", email="a@example.gov", acr="urn:acr.login.gov:verified")
    token = codec.verify(value)
    assert token == minted
    assert token.sub == "user-1"
    assert token.email == "a@example.gov"
    assert token.acr == "urn:acr.login.gov:verified"
    assert token.signed_in_at == NOW
    assert token.deadline == NOW + 43200
    assert token.expires_at == NOW + 900
    assert len(token.session_id) >= 22


def test_header_and_claims_are_the_apps_own(codec: SessionCodec) -> None:
    value, _ = codec.mint("user-1", email=None, acr="urn:acr.login.gov:auth-only")
    header = jwt.get_unverified_header(value)
    assert header == {"alg": "HS256", "kid": "new", "typ": TOKEN_TYPE}
    claims = jwt.decode(value, options={"verify_signature": False})
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert "email" not in claims


def test_every_mint_has_a_new_session_id(codec: SessionCodec) -> None:
    ids = {codec.mint("user-1", email=None, acr="a")[1].session_id for _ in range(50)}
    assert len(ids) == 50


def test_session_id_has_at_least_128_random_bits(codec: SessionCodec) -> None:
    _, token = codec.mint("user-1", email=None, acr="a")
    assert len(base64.urlsafe_b64decode(token.session_id + "==")) >= 16


def test_idle_timeout(codec: SessionCodec, clock: FakeClock) -> None:
    value, _ = codec.mint("user-1", email=None, acr="a")
    clock.now = NOW + 899
    codec.verify(value)
    clock.now = NOW + 900
    with pytest.raises(InvalidSession, match="idle timeout"):
        codec.verify(value)


def test_renewal_slides_the_idle_window_but_never_past_the_deadline(
    codec: SessionCodec, clock: FakeClock
) -> None:
    value, token = codec.mint("user-1", email=None, acr="a")
    assert not codec.needs_renewal(token)
    for step in range(1, 100):
        clock.now = NOW + step * 600
        if clock.now >= token.deadline:
            break
        token = codec.verify(value)
        assert codec.needs_renewal(token) or token.expires_at == token.deadline
        value, token = codec.renew(token)
        assert token.expires_at == min(int(clock.now) + 900, NOW + 43200)
        assert token.deadline == NOW + 43200
        assert token.signed_in_at == NOW
    clock.now = NOW + 43200
    with pytest.raises(InvalidSession, match="absolute deadline"):
        codec.verify(value)


def test_renewal_is_not_needed_on_every_request(codec: SessionCodec, clock: FakeClock) -> None:
    _, token = codec.mint("user-1", email=None, acr="a")
    clock.now = NOW + codec.renew_after - 1
    assert not codec.needs_renewal(token)
    clock.now = NOW + codec.renew_after
    assert codec.needs_renewal(token)


def test_renewal_keeps_the_session_id(codec: SessionCodec, clock: FakeClock) -> None:
    _, token = codec.mint("user-1", email=None, acr="a")
    clock.now = NOW + 300
    _, renewed = codec.renew(token)
    assert renewed.session_id == token.session_id


def test_absolute_deadline_even_with_a_fresh_idle_window(
    ring: list[SessionKey], clock: FakeClock
) -> None:
    codec = SessionCodec(ring, idle_timeout=900, max_age=1000, clock=clock)
    value, token = codec.mint("user-1", email=None, acr="a")
    clock.now = NOW + 800
    value, token = codec.renew(codec.verify(value))
    assert token.expires_at == NOW + 1000
    clock.now = NOW + 1000
    with pytest.raises(InvalidSession, match="absolute deadline"):
        codec.verify(value)


def test_token_from_an_older_key_verifies_and_is_moved_to_the_current_key(
    ring: list[SessionKey], clock: FakeClock
) -> None:
    old_codec = SessionCodec([signing(ring[1])], idle_timeout=900, max_age=43200, clock=clock)
    value, _ = old_codec.mint("user-1", email=None, acr="a")
    codec = SessionCodec(ring, idle_timeout=900, max_age=43200, clock=clock)
    token = codec.verify(value)
    assert token.kid == "old"
    assert codec.needs_renewal(token)
    renewed_value, renewed = codec.renew(token)
    assert renewed.kid == "new"
    assert jwt.get_unverified_header(renewed_value)["kid"] == "new"


def test_the_one_signing_key_signs_wherever_the_ring_lists_it(clock: FakeClock) -> None:
    old, new = key("old", verify_only=True), key("new")
    codec = SessionCodec([old, new], idle_timeout=900, max_age=43200, clock=clock)
    value, token = codec.mint("user-1", email=None, acr="a")
    assert token.kid == "new"
    assert jwt.get_unverified_header(value)["kid"] == "new"


def test_sessions_cross_between_neighbouring_stages_of_a_rotation(clock: FakeClock) -> None:
    old, new = key("old"), key("new")
    stage = {
        1: SessionCodec(
            [old, replace(new, verify_only=True)], idle_timeout=900, max_age=43200, clock=clock
        ),
        2: SessionCodec(
            [replace(old, verify_only=True), new], idle_timeout=900, max_age=43200, clock=clock
        ),
        3: SessionCodec([new], idle_timeout=900, max_age=43200, clock=clock),
    }
    on_1, _ = stage[1].mint("user-1", email=None, acr="a")
    on_2, _ = stage[2].mint("user-2", email=None, acr="a")
    assert stage[2].verify(on_1).sub == "user-1"
    assert stage[1].verify(on_2).sub == "user-2"
    assert stage[3].verify(on_2).sub == "user-2"
    # Each stage moves a session onto the key it signs with as the session is used...
    assert stage[2].needs_renewal(stage[2].verify(on_1))
    renewed, _ = stage[2].renew(stage[2].verify(on_1))
    assert stage[3].verify(renewed).sub == "user-1"
    # ...and a session still under the retired key is refused.
    with pytest.raises(InvalidSession, match="unknown key id"):
        stage[3].verify(on_1)


@pytest.mark.parametrize(
    "keys", [[], [key("a", verify_only=True)], [key("a"), key("b")]], ids=["none", "no", "two"]
)
def test_a_codec_needs_exactly_one_signing_key(keys: list[SessionKey]) -> None:
    with pytest.raises(ValueError, match="exactly one signing key"):
        SessionCodec(keys, idle_timeout=900, max_age=43200)


def test_key_removed_from_the_ring_fails(ring: list[SessionKey], clock: FakeClock) -> None:
    codec = SessionCodec(ring, idle_timeout=900, max_age=43200, clock=clock)
    old_codec = SessionCodec([signing(ring[1])], idle_timeout=900, max_age=43200, clock=clock)
    value, _ = old_codec.mint("user-1", email=None, acr="a")
    codec.verify(value)
    without_old = SessionCodec([ring[0]], idle_timeout=900, max_age=43200, clock=clock)
    with pytest.raises(InvalidSession, match="unknown key id"):
        without_old.verify(value)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda c, r: "garbage", "malformed"),
        (lambda c, r: "", "malformed"),
        (lambda c, r: "a.b.c", "malformed"),
        (lambda c, r: "x" * 5000, "oversized"),
        (lambda c, r: sign(claims_for(c), secrets.token_bytes(32)), "bad signature"),
        (lambda c, r: sign(claims_for(c), r[0].secret, kid="other"), "unknown key id"),
        (lambda c, r: sign(claims_for(c), r[0].secret, kid=None), "unknown key id"),
        (lambda c, r: sign(claims_for(c), r[0].secret, alg="HS512"), "wrong algorithm"),
        (lambda c, r: sign(claims_for(c), r[0].secret, typ="JWT"), "wrong token type"),
        (lambda c, r: sign(claims_for(c), r[0].secret, crit=["exp"]), "malformed|critical"),
        (lambda c, r: sign(claims_for(c, iss="https://idp.example/"), r[0].secret), "wrong issuer"),
        (lambda c, r: sign(claims_for(c, aud="someone-else"), r[0].secret), "wrong audience"),
        (
            lambda c, r: sign(claims_for(c, aud=[AUDIENCE, "other"]), r[0].secret),
            "audience|invalid token",
        ),
        (lambda c, r: sign(claims_for(c, jti=None), r[0].secret), "missing claim jti"),
        (lambda c, r: sign(claims_for(c, sub=None), r[0].secret), "missing claim sub"),
        (lambda c, r: sign(claims_for(c, exp=None), r[0].secret), "missing claim exp"),
        (lambda c, r: sign(claims_for(c, iat=None), r[0].secret), "missing claim iat"),
        (lambda c, r: sign(claims_for(c, dl=None), r[0].secret), "missing claim dl"),
        (lambda c, r: sign(claims_for(c, sit=None), r[0].secret), "missing claim sit"),
        (lambda c, r: sign(claims_for(c, acr=None), r[0].secret), "missing claim acr"),
        (lambda c, r: sign(claims_for(c, jti="short"), r[0].secret), "session id too short"),
        (lambda c, r: sign(claims_for(c, sub=""), r[0].secret), "sub|invalid token"),
        (lambda c, r: sign(claims_for(c, exp="never"), r[0].secret), "integers|invalid token"),
        (lambda c, r: sign(claims_for(c, email=7), r[0].secret), "malformed user claims"),
        (lambda c, r: sign(claims_for(c, acr="x"), r[0].secret), "malformed acr"),
        (lambda c, r: sign(claims_for(c, acr="~"), r[0].secret), "malformed acr"),
        (lambda c, r: sign(claims_for(c, acr=""), r[0].secret), "malformed acr"),
        (lambda c, r: sign(claims_for(c, sub="~short"), r[0].secret), "malformed sub"),
        (lambda c, r: sign(claims_for(c, sub="~" + "!" * 22), r[0].secret), "malformed sub"),
        # The last base64 character carries 2 spare bits: set, they would be a second encoding.
        (lambda c, r: sign(claims_for(c, sub="~" + "A" * 21 + "B"), r[0].secret), "malformed sub"),
        (lambda c, r: sign(claims_for(c, dl=NOW + 10**6), r[0].secret), "lifetime"),
        (lambda c, r: sign(claims_for(c, exp=NOW + 5000), r[0].secret), "idle window"),
        (lambda c, r: sign(claims_for(c, iat=NOW + 60, exp=NOW + 900), r[0].secret), "future"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(
    codec: SessionCodec, ring: list[SessionKey], make, reason: str
) -> None:
    with pytest.raises(InvalidSession, match=reason):
        codec.verify(make(codec, ring))


def test_alg_none_is_refused(codec: SessionCodec) -> None:
    header = _b64(json.dumps({"alg": "none", "kid": "new", "typ": TOKEN_TYPE}).encode())
    payload = _b64(json.dumps(claims_for(codec)).encode())
    with pytest.raises(InvalidSession, match="wrong algorithm"):
        codec.verify(f"{header}.{payload}.")


def test_tampered_payload_is_refused(codec: SessionCodec) -> None:
    value, _ = codec.mint("user-1", email=None, acr="urn:acr.login.gov:auth-only")
    header, _, signature = value.split(".")
    forged = _b64(json.dumps(claims_for(codec, acr="urn:acr.login.gov:verified")).encode())
    with pytest.raises(InvalidSession, match="bad signature"):
        codec.verify(f"{header}.{forged}.{signature}")


def test_cache_never_admits_what_verification_would_refuse(
    ring: list[SessionKey], clock: FakeClock
) -> None:
    codec = SessionCodec(ring, idle_timeout=900, max_age=43200, clock=clock)
    value, _ = codec.mint("user-1", email=None, acr="a")
    codec.verify(value)  # now cached
    header, payload, signature = value.split(".")
    tampered_sig = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    with pytest.raises(InvalidSession):
        codec.verify(f"{header}.{payload}.{tampered_sig}")
    other = SessionCodec([key("new")], idle_timeout=900, max_age=43200, clock=clock)
    foreign, _ = other.mint("user-1", email=None, acr="a")
    with pytest.raises(InvalidSession, match="bad signature"):
        codec.verify(foreign)
    clock.now = NOW + 900
    with pytest.raises(InvalidSession, match="idle timeout"):
        codec.verify(value)  # the cached entry is still held to the clock


def test_cache_is_bounded(ring: list[SessionKey], clock: FakeClock) -> None:
    codec = SessionCodec(ring, idle_timeout=900, max_age=43200, clock=clock, cache_size=3)
    values = [codec.mint(f"user-{i}", email=None, acr="a")[0] for i in range(10)]
    for value in values:
        codec.verify(value)
    assert len(codec._cache) <= 3
    for value in values:
        assert codec.verify(value).sub.startswith("user-")


def test_shorter_max_age_in_settings_shortens_existing_sessions(
    ring: list[SessionKey], clock: FakeClock
) -> None:
    long_codec = SessionCodec(ring, idle_timeout=900, max_age=43200, clock=clock)
    value, _ = long_codec.mint("user-1", email=None, acr="a")
    short_codec = SessionCodec(ring, idle_timeout=900, max_age=3600, clock=clock)
    with pytest.raises(InvalidSession, match="lifetime"):
        short_codec.verify(value)


def test_mint_refuses_an_empty_sub(codec: SessionCodec) -> None:
    with pytest.raises(ValueError, match="sub"):
        codec.mint("", email=None, acr="a")


@pytest.mark.parametrize(
    ("acr", "stored"),
    [
        ("urn:acr.login.gov:auth-only", "a"),
        ("urn:acr.login.gov:verified", "v"),
        ("urn:acr.login.gov:facial-match-required", "~facial-match-required"),
        (
            "http://idmanagement.gov/ns/assurance/ial/1",
            "=http://idmanagement.gov/ns/assurance/ial/1",
        ),
        ("a", "=a"),
        ("~a", "=~a"),
    ],
)
def test_acr_round_trips_through_its_one_packed_form(
    codec: SessionCodec, acr: str, stored: str
) -> None:
    value, _ = codec.mint("user-1", email=None, acr=acr)
    assert codec.verify(value).acr == acr
    assert jwt.decode(value, options={"verify_signature": False})["acr"] == stored


@pytest.mark.parametrize(
    ("sub", "stored"),
    [
        ("6f1c1b52-8a6e-4d0b-9a53-2b6f7d3c2e11", "~bxwbUopuTQuaUytvfTwuEQ"),
        ("00000000-0000-0000-0000-000000000000", "~AAAAAAAAAAAAAAAAAAAAAA"),
        # Not login.gov's lowercase form: kept as it is, so it comes back exactly.
        ("6F1C1B52-8A6E-4D0B-9A53-2B6F7D3C2E11", "6F1C1B52-8A6E-4D0B-9A53-2B6F7D3C2E11"),
        ("{6f1c1b52-8a6e-4d0b-9a53-2b6f7d3c2e11}", "{6f1c1b52-8a6e-4d0b-9a53-2b6f7d3c2e11}"),
        ("user-1", "user-1"),
        ("~bxwbUopuTQuaUytvfTwuEQ", "~~bxwbUopuTQuaUytvfTwuEQ"),
        ("~", "~~"),
    ],
)
def test_sub_round_trips_through_its_one_packed_form(
    codec: SessionCodec, sub: str, stored: str
) -> None:
    value, _ = codec.mint(sub, email=None, acr="urn:acr.login.gov:auth-only")
    assert codec.verify(value).sub == sub
    assert jwt.decode(value, options={"verify_signature": False})["sub"] == stored


@pytest.mark.parametrize("acr", ["urn:acr.login.gov:auth-only", "urn:acr.login.gov:verified"])
def test_a_realistic_session_cookie_fits_in_400_bytes(clock: FakeClock, acr: str) -> None:
    """A login.gov UUID, a 32-character email, a kid as loginsite-keygen makes it."""
    kid, _, secret = new_session_key_entry().partition(":")
    codec = SessionCodec(
        [SessionKey(kid, base64.urlsafe_b64decode(secret + "="))],
        idle_timeout=900,
        max_age=43200,
        clock=clock,
    )
    email = "alice.johnson@agency-example.gov"
    value, _ = codec.mint("6f1c1b52-8a6e-4d0b-9a53-2b6f7d3c2e11", email=email, acr=acr)
    assert len(f"__Host-{SessionSettings.cookie_name}=") + len(value) <= 400


def test_signed_token_names_a_session_whatever_its_time(
    codec: SessionCodec, clock: FakeClock
) -> None:
    """What sign-out revokes: the session an idle-expired or past-deadline token names."""
    value, minted = codec.mint("user-1", email=None, acr="urn:acr.login.gov:auth-only")
    clock.advance(901)
    with pytest.raises(InvalidSession, match="idle"):
        codec.verify(value)
    assert codec.signed_token(value) == minted
    clock.advance(43200)
    with pytest.raises(InvalidSession, match="deadline"):
        codec.verify(value)
    assert codec.signed_token(value) == minted


@pytest.mark.parametrize(
    "make",
    [
        lambda c, r: "garbage",
        lambda c, r: sign(claims_for(c), secrets.token_bytes(32)),
        lambda c, r: sign(claims_for(c), r[0].secret, kid="other"),
        lambda c, r: sign(claims_for(c), r[0].secret, typ="JWT"),
        lambda c, r: sign(claims_for(c, aud="someone-else"), r[0].secret),
        lambda c, r: sign(claims_for(c, jti="short"), r[0].secret),
    ],
)
def test_signed_token_refuses_what_this_app_did_not_sign(
    codec: SessionCodec, ring: list[SessionKey], make
) -> None:
    with pytest.raises(InvalidSession):
        codec.signed_token(make(codec, ring))


def test_one_size_limit_for_minting_and_verifying(codec: SessionCodec) -> None:
    """Whatever mint() issues, verify() accepts; whatever would be refused is never issued."""

    def minted(length: int) -> str | None:
        try:
            return codec.mint("user-1", email="a" * length, acr="urn:acr.login.gov:verified")[0]
        except SessionTooLarge:
            return None

    values = {length: minted(length) for length in range(2500, 2900)}
    fitting = [length for length, value in values.items() if value is not None]
    assert fitting == list(range(2500, fitting[-1] + 1))  # the range straddles the limit
    assert fitting[-1] < 2899
    for length in fitting:
        assert len(values[length]) <= MAX_TOKEN_BYTES
        assert codec.verify(values[length]).email == "a" * length
    with pytest.raises(SessionTooLarge, match=str(MAX_TOKEN_BYTES)) as raised:
        codec.mint("user-1", email="a" * (fitting[-1] + 1), acr="urn:acr.login.gov:verified")
    assert raised.value.size > MAX_TOKEN_BYTES


def raw_utf8_token(codec: SessionCodec, secret: bytes, **changes: object) -> str:
    """Signed with the app's key, but with UTF-8 claims where PyJWT would write escapes."""
    payload = json.dumps(claims_for(codec, **changes), ensure_ascii=False).encode()
    return jwt.api_jws.encode(
        payload, secret, algorithm="HS256", headers={"typ": TOKEN_TYPE, "kid": "new"}
    )


def test_a_renewal_that_would_grow_past_the_limit_raises_rather_than_issues(
    codec: SessionCodec, ring: list[SessionKey], clock: FakeClock
) -> None:
    value = raw_utf8_token(codec, ring[0].secret, email="\u00e9" * 1200)
    assert len(value) <= MAX_TOKEN_BYTES  # 2 bytes a character as signed, 6 as re-encoded
    token = codec.verify(value)
    clock.advance(300)
    assert codec.needs_renewal(token)
    with pytest.raises(SessionTooLarge):
        codec.renew(token)


@pytest.mark.parametrize("claim", ["email", "sub", "acr"])
def test_claims_that_are_not_valid_unicode_are_refused(
    codec: SessionCodec, ring: list[SessionKey], claim: str
) -> None:
    value = sign(claims_for(codec, **{claim: "=x\ud800"}), ring[0].secret)
    with pytest.raises(InvalidSession, match="not valid Unicode"):
        codec.verify(value)
