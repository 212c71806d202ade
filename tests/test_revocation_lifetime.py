"""The expiry argument of :mod:`loginsite.revocation.lifetime`, played out with real tokens.

Several instances with skewed clocks each hold a copy of the list that learns an entry some
time after it reached the shared store (at most ``max_staleness`` later). An attacker keeps a
copy of the session cookie and, every second, presents the newest token it has to every
instance, keeping whatever renewal it gets: the lagging instance renews the session until it
learns the revocation. The entry's lifetime is right if no instance that knows the revocation
ever accepts any of those tokens; the tests also show that shorter lifetimes are wrong.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import pytest

from loginsite.revocation.lifetime import EntryLifetime
from loginsite.revocation.store import RevocationList
from loginsite.session.token import InvalidSession, SessionCodec
from loginsite.settings import RevocationSettings, SessionKey
from tests.plugins.clock import FakeClock

IDLE, MAX_AGE, STALENESS, SKEW = 60, 3600, 10, 4
KEYS = (SessionKey("k1", secrets.token_bytes(32)),)
START = 1_700_000_000


class SkewedClock:
    """An instance's wall clock: the real (simulated) time plus a fixed offset."""

    def __init__(self, real: FakeClock, offset: float) -> None:
        self.real, self.offset = real, offset

    def __call__(self) -> float:
        return self.real() + self.offset


@dataclass
class Instance:
    clock: SkewedClock
    lag: float  # how long after an entry reaches the shared store this copy learns it
    codec: SessionCodec = field(init=False)
    revoked: RevocationList = field(init=False)

    def __post_init__(self) -> None:
        self.codec = SessionCodec(KEYS, idle_timeout=IDLE, max_age=MAX_AGE, clock=self.clock)
        self.revoked = RevocationList(clock=self.clock)


def violations(
    lifetime: EntryLifetime, *, store_delay: int = 0, per_user: bool = False
) -> list[str]:
    """Every moment an instance that knows the revocation accepted a token, over every phase of
    the renewal cycle (renewals happen every ``idle_timeout / 4``: the worst case is a renewal
    just before the lagging instance learns the entry)."""
    renew_after = IDLE // 4
    found: list[str] = []
    for revoke_after in range(renew_after, 2 * renew_after + 1):
        found += _play(lifetime, revoke_after, store_delay=store_delay, per_user=per_user)
    return found


def _play(
    lifetime: EntryLifetime, revoke_after: int, *, store_delay: int, per_user: bool
) -> list[str]:
    """Play one revocation out."""
    real = FakeClock(START)
    writer = Instance(SkewedClock(real, -SKEW / 2), lag=0)
    lagging = Instance(SkewedClock(real, +SKEW / 2), lag=STALENESS)  # clock ahead, list behind
    prompt = Instance(SkewedClock(real, 0), lag=1)
    instances = [writer, lagging, prompt]
    value, token = writer.codec.mint("alice", email=None, acr="urn:acr.login.gov:auth-only")
    # The user keeps the session alive until it is revoked at `revoke_after`.
    while real() < START + revoke_after:
        real.advance(1)
        if writer.codec.needs_renewal(writer.codec.verify(value)):
            value, token = writer.codec.renew(writer.codec.verify(value))
    # Revoked on the writer at once; in the shared store `store_delay` later (journal replay).
    revoked_at, reached_store = real(), real() + store_delay
    kind = "user" if per_user else "session"
    if per_user:
        not_before = int(writer.clock()) + 1
        cap = not_before + MAX_AGE
        writer.revoked.add_user("alice", not_before, lifetime.expires_at(cap, writer.clock()))
    else:
        cap = token.deadline
        writer.revoked.add_session(token.session_id, lifetime.expires_at(cap, writer.clock()))
    stored_expiry = lifetime.expires_at(cap, reached_store + writer.clock.offset)
    local_until = {"user": not_before} if per_user else {}
    found: list[str] = []
    newest = value
    while real() < revoked_at + 3 * IDLE + store_delay + STALENESS:
        real.advance(1)
        if real() < reached_store:
            # Until the entry reaches the shared store, the writer keeps extending its own
            # copy (the store does this while a write is pending), so it never lapses first.
            if per_user:
                writer.revoked.add_user(
                    "alice", local_until["user"], lifetime.expires_at(cap, writer.clock())
                )
            else:
                writer.revoked.add_session(
                    token.session_id, lifetime.expires_at(cap, writer.clock())
                )
        for instance in instances:
            if real() >= reached_store + instance.lag:
                if per_user:
                    instance.revoked.add_user("alice", not_before, stored_expiry)
                else:
                    instance.revoked.add_session(token.session_id, stored_expiry)
            knows = real() >= reached_store + instance.lag or instance is writer
            try:
                presented = instance.codec.verify(newest)
            except InvalidSession:
                continue
            if instance.revoked.is_revoked(
                presented.session_id, presented.sub, presented.signed_in_at
            ):
                continue
            if knows:
                found.append(f"{kind}: accepted at +{real() - revoked_at:.0f}s by a knowing copy")
            elif instance.codec.needs_renewal(presented):
                newest, _ = instance.codec.renew(presented)  # the attacker keeps the renewal
    return found


RIGHT = EntryLifetime(idle_timeout=IDLE, propagation=STALENESS, clock_skew=SKEW)


@pytest.mark.parametrize("per_user", [False, True])
def test_the_idle_bound_lifetime_outlives_every_token_a_lagging_instance_renews(
    per_user: bool,
) -> None:
    assert violations(RIGHT, per_user=per_user) == []


@pytest.mark.parametrize(
    "short",
    [
        EntryLifetime(idle_timeout=IDLE, propagation=0, clock_skew=SKEW),  # no propagation bound
        EntryLifetime(idle_timeout=IDLE, propagation=STALENESS, clock_skew=0),  # no skew
    ],
)
def test_a_lifetime_without_either_allowance_lets_a_renewed_token_through(
    short: EntryLifetime,
) -> None:
    assert violations(short) != []


def test_a_late_journal_replay_gets_a_fresh_lifetime() -> None:
    # Reaching the shared store 10 minutes late: the lifetime counts from then, and holds.
    assert violations(RIGHT, store_delay=600) == []


def test_a_lifetime_counted_from_the_revocation_instead_fails_after_a_late_replay() -> None:
    class FromRevocation(EntryLifetime):
        """Counts the stored entry's lifetime from the revocation, 600 s before it was stored."""

        def expires_at(self, deadline: int, reached_store_at: float) -> int:
            return super().expires_at(deadline, reached_store_at - 600)

    late = FromRevocation(IDLE, STALENESS, SKEW)
    assert violations(late, store_delay=600) != []


def test_entries_never_outlive_the_session_deadline() -> None:
    assert RIGHT.expires_at(deadline=START + 30, reached_store_at=START) == START + 30
    assert RIGHT.expires_at(deadline=START + 10_000, reached_store_at=START + 0.2) == (
        START + 1 + IDLE + STALENESS + SKEW
    )


def test_lifetime_from_settings() -> None:
    settings = RevocationSettings(idle_timeout=900, max_staleness=30, clock_skew=5)
    assert EntryLifetime.for_settings(settings, shared=True).seconds == 935
    assert EntryLifetime.for_settings(settings, shared=False).seconds == 905
