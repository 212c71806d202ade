"""The sign-out receipt: states an outcome only for the sign-out that sealed it."""

from __future__ import annotations

import pytest

from loginsite.auth.cookies import (
    SignOutOutcome,
    SignOutReceipt,
    signout_keys,
    transaction_keys,
)
from loginsite.oidc import LoginTransaction, TransactionJar
from loginsite.session.token import CLOCK_SKEW
from loginsite.settings import SessionKey, SessionSettings
from tests.plugins.clock import FakeClock

STATE = "Zq3-state-of-this-sign-out-0123456789abcdefghij"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_800_000_000)


def receipt(clock: FakeClock, *keys: bytes) -> SignOutReceipt:
    return SignOutReceipt(list(keys or (b"k" * 32,)), ttl=600, clock=clock)


@pytest.mark.parametrize("outcome", list(SignOutOutcome))
def test_every_outcome_round_trips_for_its_own_state(clock: FakeClock, outcome) -> None:
    receipts = receipt(clock)
    assert receipts.open(receipts.seal(STATE, outcome), STATE) is outcome


def test_another_state_or_no_state_states_nothing(clock: FakeClock) -> None:
    receipts = receipt(clock)
    sealed = receipts.seal(STATE, SignOutOutcome.EVERYWHERE)
    assert receipts.open(sealed, STATE + "x") is None
    assert receipts.open(sealed, None) is None
    assert receipts.open(None, STATE) is None


@pytest.mark.parametrize(
    "value",
    [
        "x.1",  # the old format: a leftover from before
        f"{STATE}.e",
        f"{STATE}.e.1700000000",
        f"{STATE}.e.1700000000.AAAA",
        "",
        "...",
        f"{STATE}.é.1.x",
    ],
)
def test_leftover_or_forged_values_state_nothing(clock: FakeClock, value: str) -> None:
    assert receipt(clock).open(value, STATE) is None


def test_an_edited_outcome_fails_the_mac(clock: FakeClock) -> None:
    receipts = receipt(clock)
    state, _, issued, mac = receipts.seal(STATE, SignOutOutcome.SESSION).split(".")
    assert receipts.open(f"{state}.e.{issued}.{mac}", STATE) is None
    assert receipts.open(f"{state}.s.{int(issued) + 1}.{mac}", STATE) is None


def test_a_receipt_sealed_with_another_key_states_nothing(clock: FakeClock) -> None:
    sealed = receipt(clock, b"a" * 32).seal(STATE, SignOutOutcome.EVERYWHERE)
    assert receipt(clock, b"b" * 32).open(sealed, STATE) is None


def test_a_receipt_sealed_before_a_key_rotation_still_opens(clock: FakeClock) -> None:
    old, new = b"o" * 32, b"n" * 32
    sealed = receipt(clock, old).seal(STATE, SignOutOutcome.SESSION)
    assert receipt(clock, new, old).open(sealed, STATE) is SignOutOutcome.SESSION


def test_a_receipt_expires(clock: FakeClock) -> None:
    receipts = receipt(clock)
    sealed = receipts.seal(STATE, SignOutOutcome.SESSION)
    clock.advance(600)
    assert receipts.open(sealed, STATE) is SignOutOutcome.SESSION
    clock.advance(1)
    assert receipts.open(sealed, STATE) is None


def test_a_receipt_from_the_future_states_nothing_beyond_the_clock_skew(clock: FakeClock) -> None:
    receipts = receipt(clock)
    sealed = receipts.seal(STATE, SignOutOutcome.SESSION)
    clock.advance(-CLOCK_SKEW)  # sealed by a server whose clock is a little ahead
    assert receipts.open(sealed, STATE) is SignOutOutcome.SESSION
    clock.advance(-1)
    assert receipts.open(sealed, STATE) is None


# -- the key ring through a rotation -----------------------------------------------------------

OLD, NEW = SessionKey("old", b"o" * 32), SessionKey("new", b"n" * 32)
STAGE_1 = SessionSettings(keys=(OLD, SessionKey("new", NEW.secret, verify_only=True)))
#: The signing key listed second on purpose: the ring's order is not what decides.
STAGE_2 = SessionSettings(keys=(SessionKey("old", OLD.secret, verify_only=True), NEW))
STAGE_3 = SessionSettings(keys=(NEW,))


def test_the_signing_key_comes_first_whatever_the_configured_order() -> None:
    assert [kid for kid, _ in transaction_keys(STAGE_1)] == ["old", "new"]
    assert [kid for kid, _ in transaction_keys(STAGE_2)] == ["new", "old"]
    assert signout_keys(STAGE_2)[0] == signout_keys(STAGE_3)[0]
    assert signout_keys(STAGE_1)[0] == signout_keys(SessionSettings(keys=(OLD,)))[0]


def test_a_receipt_sealed_at_one_stage_opens_at_the_next(clock: FakeClock) -> None:
    stage = {
        n: SignOutReceipt(signout_keys(s), ttl=600, clock=clock)
        for n, s in ((1, STAGE_1), (2, STAGE_2), (3, STAGE_3))
    }
    outcome = SignOutOutcome.SESSION
    assert stage[2].open(stage[1].seal(STATE, outcome), STATE) is outcome
    assert stage[1].open(stage[2].seal(STATE, outcome), STATE) is outcome
    assert stage[3].open(stage[2].seal(STATE, outcome), STATE) is outcome
    assert stage[3].open(stage[1].seal(STATE, outcome), STATE) is None  # old key retired


def test_a_sign_in_begun_at_one_stage_completes_at_the_next(clock: FakeClock) -> None:
    jars = {
        n: TransactionJar(transaction_keys(s), clock=clock)
        for n, s in ((1, STAGE_1), (2, STAGE_2), (3, STAGE_3))
    }
    txn = LoginTransaction.new(
        next_path="/account", acr_values=("urn:acr.login.gov:auth-only",), created_at=int(clock())
    )
    for begun, completed in ((1, 2), (2, 1), (2, 3)):
        found, _, reason = jars[completed].take(jars[begun].add(None, txn), txn.state)
        assert (found, reason) == (txn, "ok"), (begun, completed)
    found, _, reason = jars[3].take(jars[1].add(None, txn), txn.state)
    assert found is None
    assert reason == "unknown key"
