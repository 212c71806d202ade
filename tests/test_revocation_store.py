"""The revocation list, the single-process store, the no-op store and how they are built."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import pytest
from pyramid.config import Configurator

from loginsite.revocation import (
    STORE_KEY,
    RevocationStore,
    get_revocation_store,
    make_revocation_store,
    revoke_session,
    revoke_user,
)
from loginsite.revocation.lifetime import EntryLifetime
from loginsite.revocation.memory import MemoryRevocationStore
from loginsite.revocation.none import NoRevocationStore
from loginsite.revocation.store import LocalClaims, RevocationList, RevocationStatus
from loginsite.settings import (
    SETTINGS_KEY,
    AppSettings,
    ClientConfig,
    RevocationSettings,
    SessionKey,
    SessionSettings,
)
from tests.plugins.clock import FakeClock

NOW = 1_700_000_000


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


# -- RevocationList ----------------------------------------------------------------------------


def test_unknown_session_is_not_revoked(clock: FakeClock) -> None:
    assert not RevocationList(clock=clock).is_revoked("jti-1", "alice", NOW - 10)


def test_revoked_session_matches_its_jti_only(clock: FakeClock) -> None:
    revoked = RevocationList(clock=clock)
    revoked.add_session("jti-1", NOW + 100)
    assert revoked.is_revoked("jti-1", "alice", NOW - 10)
    assert not revoked.is_revoked("jti-2", "alice", NOW - 10)


def test_user_not_before_ends_sessions_signed_in_earlier_only(clock: FakeClock) -> None:
    revoked = RevocationList(clock=clock)
    revoked.add_user("alice", not_before=NOW, expires_at=NOW + 100)
    assert revoked.is_revoked("any", "alice", NOW - 1)
    assert not revoked.is_revoked("any", "alice", NOW)  # signed in at (not before) the time
    assert not revoked.is_revoked("any", "alice", NOW + 5)
    assert not revoked.is_revoked("any", "bob", NOW - 1)


def test_user_not_before_keeps_the_latest_time(clock: FakeClock) -> None:
    revoked = RevocationList(clock=clock)
    revoked.add_user("alice", not_before=NOW + 10, expires_at=NOW + 100)
    assert not revoked.add_user("alice", not_before=NOW, expires_at=NOW + 50)
    assert revoked.is_revoked("any", "alice", NOW + 5)
    assert revoked.users() == {"alice": (NOW + 10, NOW + 100)}


def test_entries_stop_matching_at_their_expiry(clock: FakeClock) -> None:
    revoked = RevocationList(clock=clock)
    revoked.add_session("jti-1", NOW + 100)
    revoked.add_user("alice", not_before=NOW, expires_at=NOW + 100)
    clock.now = NOW + 99
    assert revoked.is_revoked("jti-1", "bob", NOW - 1)
    assert revoked.is_revoked("jti-x", "alice", NOW - 1)
    clock.now = NOW + 100
    assert not revoked.is_revoked("jti-1", "bob", NOW - 1)
    assert not revoked.is_revoked("jti-x", "alice", NOW - 1)


def test_expired_entries_are_purged(clock: FakeClock) -> None:
    revoked = RevocationList(clock=clock, purge_interval=0)  # purge at every call
    revoked.add_session("short", NOW + 10)
    revoked.add_session("long", NOW + 1000)
    revoked.add_user("alice", NOW, NOW + 10)
    clock.now = NOW + 11
    revoked.is_revoked("other", "bob", NOW)
    assert len(revoked) == 1
    assert revoked.sessions() == {"long": NOW + 1000}


def test_expired_entries_are_purged_periodically_during_lookups(clock: FakeClock) -> None:
    revoked = RevocationList(clock=clock, purge_interval=60)
    for i in range(100):
        revoked.add_session(f"jti-{i}", NOW + 30)
    assert len(revoked) == 100
    clock.now = NOW + 61
    revoked.is_revoked("other", "alice", NOW)
    assert len(revoked) == 0


def test_entry_already_past_its_expiry_is_not_stored(clock: FakeClock) -> None:
    revoked = RevocationList(clock=clock)
    assert not revoked.add_session("jti-1", NOW)
    assert not revoked.add_user("alice", NOW, NOW - 1)
    assert len(revoked) == 0


def test_adding_merges_and_never_shortens(clock: FakeClock) -> None:
    revoked = RevocationList(clock=clock)
    assert revoked.add_session("mine", NOW + 100)
    assert not revoked.add_session("mine", NOW + 50)  # arrives late, from an older source
    assert revoked.sessions() == {"mine": NOW + 100}


def test_list_is_safe_under_concurrent_writes_and_lookups(clock: FakeClock) -> None:
    revoked = RevocationList(clock=clock, purge_interval=0)  # purge on every call

    def writer(n: int) -> None:
        for i in range(500):
            revoked.add_session(f"{n}-{i}", NOW + 100)
            revoked.is_revoked(f"{n}-{i}", "alice", NOW)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(revoked) == 2000


# -- stores ------------------------------------------------------------------------------------


def test_memory_store_revokes_sessions_and_users(clock: FakeClock) -> None:
    store: RevocationStore = MemoryRevocationStore(clock=clock)
    store.revoke_session("jti-1", NOW + 100)
    store.revoke_user("alice", not_before=NOW, expires_at=NOW + 100)
    assert store.is_revoked("jti-1", "bob", NOW)
    assert store.is_revoked("jti-2", "alice", NOW - 1)
    assert not store.is_revoked("jti-2", "alice", NOW)
    assert not store.is_revoked("jti-2", "bob", NOW)
    clock.now = NOW + 100  # the session's deadline comes before the idle-bound lifetime
    assert not store.is_revoked("jti-1", "bob", NOW)
    store.close()


def test_memory_store_keeps_entries_for_the_idle_window_not_the_deadline(
    clock: FakeClock,
) -> None:
    lifetime = EntryLifetime(idle_timeout=900, propagation=0, clock_skew=5)
    store = MemoryRevocationStore(clock=clock, lifetime=lifetime)
    store.revoke_session("jti-1", NOW + 43_200)
    store.revoke_user("alice", not_before=NOW, expires_at=NOW + 43_200)
    clock.now = NOW + 904
    assert store.is_revoked("jti-1", "bob", NOW)
    assert store.is_revoked("other", "alice", NOW - 1)
    clock.now = NOW + 905
    assert not store.is_revoked("jti-1", "bob", NOW)
    assert not store.is_revoked("other", "alice", NOW - 1)


@pytest.mark.parametrize("make", [MemoryRevocationStore, NoRevocationStore])
def test_local_stores_are_always_ready(make) -> None:
    store = make()
    store.revoke_session("jti-1", int(time.time()) + 100)
    status = store.status()
    assert status.ready
    assert status.synced
    assert status.staleness == 0.0
    assert (status.pending_writes, status.journal_depth) == (0, 0)
    assert status.entries == (1 if make is MemoryRevocationStore else 0)
    assert status.as_dict()["staleness"] == 0.0


def test_status_of_a_never_synced_store_is_json_friendly() -> None:
    status = RevocationStatus(
        ready=False,
        synced=False,
        staleness=math.inf,
        pending_writes=2,
        journal_depth=2,
        entries=0,
    )
    assert status.as_dict()["staleness"] is None


def test_memory_stores_do_not_share_entries(clock: FakeClock) -> None:
    one, two = MemoryRevocationStore(clock=clock), MemoryRevocationStore(clock=clock)
    one.revoke_session("jti-1", NOW + 100)
    assert not two.is_revoked("jti-1", "alice", NOW)


def test_none_store_never_revokes() -> None:
    store: RevocationStore = NoRevocationStore()
    store.revoke_session("jti-1", NOW + 100)
    store.revoke_user("alice", NOW, NOW + 100)
    assert not store.is_revoked("jti-1", "alice", NOW - 1)
    store.close()


def test_make_revocation_store_builds_the_configured_store(clock: FakeClock) -> None:
    memory = make_revocation_store(RevocationSettings(store="memory"), clock=clock)
    assert isinstance(memory, MemoryRevocationStore)
    memory.revoke_session("jti-1", NOW + 1)
    clock.now = NOW + 1  # the injected clock is the one that expires entries
    assert not memory.is_revoked("jti-1", "alice", NOW)
    assert isinstance(make_revocation_store(RevocationSettings(store="none")), NoRevocationStore)


def test_revoke_user_helper_ends_sessions_signed_in_up_to_now(clock: FakeClock) -> None:
    store = MemoryRevocationStore(clock=clock)
    revoke_user(store, "alice", max_age=3600, now=NOW + 0.5)
    assert store.is_revoked("x", "alice", NOW)  # signed in during this very second
    assert store.is_revoked("x", "alice", NOW - 3000)
    assert not store.is_revoked("x", "alice", NOW + 1)


def test_revoke_user_helper_caps_the_entry_at_the_last_possible_deadline(
    clock: FakeClock,
) -> None:
    long_idle = EntryLifetime(idle_timeout=7200, propagation=0, clock_skew=0)
    store = MemoryRevocationStore(clock=clock, lifetime=long_idle)
    revoke_user(store, "alice", max_age=3600, now=NOW + 0.5)
    clock.now = NOW + 3600  # a session signed in at NOW may still be valid
    assert store.is_revoked("x", "alice", NOW)
    clock.now = NOW + 3601  # none signed in before not-before (NOW + 1) can be
    assert not store.is_revoked("x", "alice", NOW)


def test_revoke_session_helper(clock: FakeClock) -> None:
    store = MemoryRevocationStore(clock=clock)
    revoke_session(store, "jti-1", expires_at=NOW + 60)
    assert store.is_revoked("jti-1", "alice", NOW)


# -- Pyramid wiring ----------------------------------------------------------------------------


def test_includeme_reads_the_revocation_settings_alone() -> None:
    config = Configurator(settings={"loginsite.revocation.store": "none"})
    config.include("loginsite.revocation")
    assert isinstance(config.registry[STORE_KEY], NoRevocationStore)
    assert get_revocation_store(config.registry) is config.registry[STORE_KEY]


def test_includeme_builds_one_store_per_registry() -> None:
    config = Configurator(settings={"loginsite.revocation.store": "memory"})
    config.include("loginsite.revocation")
    first = get_revocation_store(config.registry)
    config.include("loginsite.revocation")
    assert get_revocation_store(config.registry) is first


def test_includeme_prefers_the_parsed_app_settings() -> None:
    config = Configurator(settings={"loginsite.revocation.store": "none"})
    config.registry[SETTINGS_KEY] = AppSettings(
        environment="development",
        public_url="http://localhost:6543",
        session=SessionSettings(keys=(SessionKey("k1", b"k" * 32),)),
        revocation=RevocationSettings(store="memory"),
        idp=ClientConfig(
            issuer="http://127.0.0.1:9/",
            client_id="test",
            private_key_pem=b"",
            redirect_uri="http://localhost:6543/auth/callback",
            post_logout_redirect_uri="http://localhost:6543/auth/signed-out",
        ),
        devidp=None,
    )
    config.include("loginsite.revocation")
    assert isinstance(get_revocation_store(config.registry), MemoryRevocationStore)


# -- claim_once (the replay cache of Security Event Tokens) ------------------------------------


def test_local_claims_answer_true_once_until_expiry(clock: FakeClock) -> None:
    claims = LocalClaims(clock=clock)
    assert claims.claim_once("jti-1", NOW + 10)
    assert not claims.claim_once("jti-1", NOW + 10)
    assert claims.claim_once("jti-2", NOW + 10)
    clock.now = NOW + 10
    assert claims.claim_once("jti-1", NOW + 20)  # the first claim has expired


def test_local_claims_forget_expired_claims(clock: FakeClock) -> None:
    claims = LocalClaims(clock=clock, purge_interval=5)
    for n in range(10):
        claims.claim_once(f"jti-{n}", NOW + 1)
    claims.claim_once("past", NOW - 1)  # already expired: nothing to remember
    assert len(claims) == 10
    clock.now = NOW + 6
    claims.claim_once("jti-new", NOW + 100)
    assert len(claims) == 1


@pytest.mark.parametrize("make", [MemoryRevocationStore, NoRevocationStore])
def test_stores_claim_once_per_key(make: Callable[[], RevocationStore]) -> None:
    store = make()
    expires_at = int(time.time()) + 100
    assert store.claim_once("jti-1", expires_at)
    assert not store.claim_once("jti-1", expires_at)
    assert store.claim_once("jti-2", expires_at)
