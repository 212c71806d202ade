"""The Redis-backed store against a real redis-server: sharing, expiry, outages, reconnects."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from loginsite.revocation import RevocationUnavailable, make_revocation_store
from loginsite.revocation.redis import RedisRevocationStore
from loginsite.settings import RevocationSettings
from tests.plugins.redis_server import RedisServer

pytestmark = pytest.mark.redis

WAIT = 5.0
#: max_staleness: a short outage is noticed within a test's patience; a long one never.
SHORT, LONG = 2.0, 3600.0
#: An entry's lifetime with SHORT: idle_timeout 900 + max_staleness + clock_skew 5.
LIFETIME = 907

StoreFactory = Callable[..., RedisRevocationStore]


def eventually(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def unavailable(store: RedisRevocationStore) -> bool:
    try:
        store.is_revoked("probe", "probe", 0)
    except RevocationUnavailable:
        return True
    return False


def later(seconds: int = 3600) -> int:
    return int(time.time()) + seconds


@pytest.fixture
def key_prefix() -> str:
    return f"test:{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def make_store(redis_server: RedisServer, key_prefix: str) -> Iterator[StoreFactory]:
    """Build stores sharing ``redis_server``; all are closed after the test."""
    stores: list[RedisRevocationStore] = []

    def make(max_staleness: float = SHORT, url: str | None = None) -> RedisRevocationStore:
        settings = RevocationSettings(
            store="redis",
            redis_url=url or redis_server.url,
            max_staleness=max_staleness,
            key_prefix=key_prefix,
            redis_timeout=0.5,
        )
        store = make_revocation_store(settings)
        assert isinstance(store, RedisRevocationStore)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


def synced(store: RedisRevocationStore) -> RedisRevocationStore:
    assert store.wait_until_synced(WAIT), "the store never synced with Redis"
    return store


def test_session_revoked_on_one_instance_is_seen_by_another(make_store: StoreFactory) -> None:
    one, two = synced(make_store()), synced(make_store())
    one.revoke_session("jti-1", later())
    assert one.is_revoked("jti-1", "alice", 0)  # at once, locally
    assert eventually(lambda: two.is_revoked("jti-1", "alice", 0))
    assert not two.is_revoked("jti-2", "alice", 0)


def test_user_not_before_is_shared_and_keeps_the_latest_time(
    make_store: StoreFactory, redis_server: RedisServer, key_prefix: str
) -> None:
    one, two = synced(make_store()), synced(make_store())
    now, deadline = int(time.time()), later()
    one.revoke_user("alice", not_before=now, expires_at=deadline)
    assert eventually(lambda: two.is_revoked("any", "alice", now - 1))
    assert not two.is_revoked("any", "alice", now)
    assert not two.is_revoked("any", "bob", now - 1)
    two.revoke_user("alice", not_before=now + 10, expires_at=deadline)
    one.revoke_user("alice", not_before=now + 5, expires_at=deadline - 60)  # older, arrives late
    assert eventually(lambda: one.is_revoked("any", "alice", now + 9))
    not_before, _, expires_at = redis_server.client().get(f"{key_prefix}sub:alice").partition(":")
    assert int(not_before) == now + 10
    assert int(expires_at) <= later(LIFETIME + 1)  # the idle window, not the deadline


def test_entries_expire_in_redis_after_the_idle_window_or_at_the_deadline(
    make_store: StoreFactory, redis_server: RedisServer, key_prefix: str
) -> None:
    store = synced(make_store())
    written_at = int(time.time())
    store.revoke_session("jti-long", later())  # a deadline far past the idle window
    store.revoke_session("jti-short", later(60))  # a deadline within it
    store.revoke_user("alice", not_before=written_at, expires_at=later())
    client = redis_server.client()
    for key in ("jti:jti-long", "sub:alice"):
        assert written_at + LIFETIME <= client.expiretime(key_prefix + key) <= later(LIFETIME + 1)
    assert client.expiretime(f"{key_prefix}jti:jti-short") == later(60)


def test_expired_entries_disappear_from_redis_and_locally(
    make_store: StoreFactory, redis_server: RedisServer, key_prefix: str
) -> None:
    store = synced(make_store())
    store.revoke_session("jti-1", later(1))
    assert store.is_revoked("jti-1", "alice", 0)
    client = redis_server.client()
    assert eventually(lambda: not client.exists(f"{key_prefix}jti:jti-1"))
    assert eventually(lambda: not store.is_revoked("jti-1", "alice", 0))


def test_an_instance_started_later_loads_the_list(make_store: StoreFactory) -> None:
    first = synced(make_store())
    first.revoke_session("jti-1", later())
    first.revoke_user("alice", not_before=100, expires_at=later())
    # Start-up waits briefly for the first load, so a new instance is current at once.
    second = make_store()
    assert second.synced
    assert second.is_revoked("jti-1", "bob", 0)
    assert second.is_revoked("jti-2", "alice", 99)


def test_keys_outside_the_prefix_are_ignored(
    make_store: StoreFactory, redis_server: RedisServer, key_prefix: str
) -> None:
    client = redis_server.client()
    client.set("other:jti:jti-1", f"0:{later()}")
    client.set(f"{key_prefix}jti:bad", "garbage")
    store = synced(make_store())
    assert not store.is_revoked("jti-1", "alice", 0)
    assert not store.is_revoked("bad", "alice", 0)


def test_past_max_staleness_it_refuses_to_answer_while_redis_is_down(
    make_store: StoreFactory, redis_server: RedisServer
) -> None:
    store = synced(make_store(SHORT))
    assert not store.is_revoked("jti-1", "alice", 0)
    redis_server.stop()
    assert eventually(lambda: unavailable(store))
    redis_server.start()
    assert store.wait_until_synced(WAIT)
    assert not store.is_revoked("jti-1", "alice", 0)


def test_a_silent_redis_is_noticed_by_the_heartbeat(
    make_store: StoreFactory, redis_server: RedisServer
) -> None:
    store = synced(make_store(SHORT))
    redis_server.pause()  # the connection stays open, nothing answers
    try:
        assert eventually(lambda: unavailable(store))
        store.revoke_session("jti-1", later())  # the sync is down: recorded here, queued
        assert store.pending_writes == 1
    finally:
        redis_server.resume()
    assert store.wait_until_synced(WAIT)
    assert store.wait_until_written(WAIT)
    assert store.is_revoked("jti-1", "alice", 0)


def test_within_max_staleness_it_answers_from_the_local_copy_while_redis_is_down(
    make_store: StoreFactory, redis_server: RedisServer
) -> None:
    store = synced(make_store(LONG))
    store.revoke_session("jti-1", later())
    redis_server.stop()
    assert eventually(lambda: not store.synced)
    assert store.is_revoked("jti-1", "alice", 0)
    assert not store.is_revoked("jti-2", "alice", 0)


@pytest.mark.parametrize("max_staleness", [SHORT, LONG])
def test_a_store_that_never_reached_redis_is_infinitely_stale(
    make_store: StoreFactory, max_staleness: float
) -> None:
    store = make_store(max_staleness, url="redis://127.0.0.1:9/0")  # nothing listens there
    assert not store.synced
    assert unavailable(store)
    status = store.status()
    assert not status.ready
    assert status.staleness == float("inf")
    store.revoke_session("jti-1", later())  # never raises: recorded locally, queued
    assert store.pending_writes == 1
    assert store.status().pending_writes == 1


def test_revoke_while_redis_is_down_is_local_at_once_and_written_after_reconnect(
    make_store: StoreFactory, redis_server: RedisServer, key_prefix: str
) -> None:
    one = synced(make_store(LONG))
    redis_server.stop()
    assert eventually(lambda: not one.synced)
    one.revoke_session("jti-1", later())
    one.revoke_user("alice", not_before=100, expires_at=later())
    assert one.is_revoked("jti-1", "bob", 0)
    assert one.is_revoked("jti-2", "alice", 99)
    assert one.pending_writes == 2
    redis_server.start()
    assert one.wait_until_written(WAIT)
    assert redis_server.client().exists(f"{key_prefix}jti:jti-1", f"{key_prefix}sub:alice") == 2
    two = synced(make_store())
    assert two.is_revoked("jti-1", "bob", 0)
    assert two.is_revoked("jti-2", "alice", 99)


def test_entries_lost_by_a_restarted_redis_are_written_back(
    make_store: StoreFactory, redis_server: RedisServer, key_prefix: str
) -> None:
    one = synced(make_store())
    one.revoke_session("jti-1", later())
    redis_server.stop()  # no persistence: it comes back empty
    redis_server.start()
    client = redis_server.client()
    assert eventually(lambda: client.exists(f"{key_prefix}jti:jti-1") == 1)
    assert synced(make_store()).is_revoked("jti-1", "bob", 0)


def test_reconnect_reloads_entries_written_while_disconnected(
    make_store: StoreFactory, redis_server: RedisServer, key_prefix: str
) -> None:
    store = synced(make_store(LONG))
    client = redis_server.client()
    # Written without an event: only a reload can find it. Then drop the subscription.
    client.set(f"{key_prefix}jti:jti-1", f"0:{later()}", exat=later())
    assert not store.is_revoked("jti-1", "alice", 0)
    assert client.client_kill_filter(_type="pubsub") >= 1
    assert eventually(lambda: store.is_revoked("jti-1", "alice", 0))
    assert store.wait_until_synced(WAIT)


def test_events_published_after_a_reconnect_are_applied(
    make_store: StoreFactory, redis_server: RedisServer
) -> None:
    one, two = synced(make_store()), synced(make_store())
    redis_server.stop()
    assert eventually(lambda: not one.synced and not two.synced)
    redis_server.start()
    assert one.wait_until_synced(WAIT)
    assert two.wait_until_synced(WAIT)
    one.revoke_session("jti-1", later())
    assert one.pending_writes == 0
    assert eventually(lambda: two.is_revoked("jti-1", "alice", 0))


def test_close_stops_the_sync(make_store: StoreFactory) -> None:
    store = synced(make_store(SHORT))
    store.close()
    assert not store.synced
    assert unavailable(store)


def test_a_healthy_redis_keeps_the_sync_up_across_heartbeats(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """Regression: every heartbeat must see its PONG, or the sync flaps and fails closed."""
    settings = RevocationSettings(
        store="redis", redis_url=redis_server.url, key_prefix=key_prefix, redis_timeout=0.2
    )
    store = RedisRevocationStore(settings, heartbeat=0.05)
    try:
        assert store.wait_until_synced(WAIT)
        deadline = time.monotonic() + 3.0  # a dozen heartbeats, each past its own timeout
        while time.monotonic() < deadline:
            assert store.synced, "the sync dropped although Redis answered every PING"
            time.sleep(0.01)
    finally:
        store.close()


# -- claim_once: the replay cache of Security Event Tokens ----------------------------------


def test_claim_once_is_true_for_the_first_instance_only(
    make_store: StoreFactory, redis_server: RedisServer, key_prefix: str
) -> None:
    one, two = synced(make_store()), synced(make_store())
    expires_at = later(60)
    assert one.claim_once("jti-1", expires_at)
    assert not two.claim_once("jti-1", expires_at)
    assert not one.claim_once("jti-1", expires_at)
    assert two.claim_once("jti-2", expires_at)
    ttl = redis_server.client().ttl(f"{key_prefix}once:jti-1")
    assert 0 < ttl <= 60  # remembered in Redis until the token's exp, not longer


def test_claims_do_not_disturb_the_revocation_list(make_store: StoreFactory) -> None:
    one = synced(make_store())
    one.claim_once("jti-1", later())
    two = synced(make_store())  # its load scans the claim key too, and skips it
    assert not two.is_revoked("jti-1", "alice", 0)


def test_claim_once_without_redis_answers_from_this_process(
    make_store: StoreFactory, redis_server: RedisServer
) -> None:
    store = synced(make_store())
    redis_server.stop()
    assert store.claim_once("jti-1", later())  # never raises: a genuine event is not lost
    assert not store.claim_once("jti-1", later())
