"""The Redis-backed store against a real redis-server: sharing, lifetimes, garbage, outages,
incremental reconnects, repair after data loss, the journal across a SIGKILL."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from loginsite.revocation import RevocationUnavailable, make_revocation_store
from loginsite.revocation.redis import EntryCodec, RedisRevocationStore, StoredEntry
from loginsite.settings import RevocationSettings, SessionKey
from tests.plugins.redis_server import RedisServer
from tests.plugins.session_keys import SECRET_1, SECRET_2

pytestmark = pytest.mark.redis

WAIT = 5.0
#: max_staleness: a short outage is noticed within a test's patience; a long one never.
SHORT, LONG = 2.0, 3600.0
#: An entry's lifetime with SHORT: idle_timeout 900 + max_staleness + clock_skew 5.
LIFETIME = 907
#: Seconds one XREAD waits for news in these tests (production: 1 s).
HEARTBEAT = 0.2


def key(secret: str, kid: str = "k1") -> SessionKey:
    return SessionKey(kid, base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4)))


KEYS = (key(SECRET_1),)

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


def store_settings(url: str, key_prefix: str, journal: Path, **overrides) -> RevocationSettings:
    return RevocationSettings(
        **{
            "store": "redis",
            "redis_url": url,
            "max_staleness": SHORT,
            "key_prefix": key_prefix,
            "redis_timeout": 0.5,
            "journal": journal,
            "mac_keys": KEYS,
            **overrides,
        }
    )


@pytest.fixture
def make_store(
    redis_server: RedisServer, key_prefix: str, tmp_path: Path
) -> Iterator[StoreFactory]:
    """Build stores sharing ``redis_server``, each with its own journal unless given one."""
    stores: list[RedisRevocationStore] = []

    def make(
        max_staleness: float = SHORT,
        url: str | None = None,
        journal: Path | None = None,
        **overrides,
    ) -> RedisRevocationStore:
        settings = store_settings(
            url or redis_server.url,
            key_prefix,
            journal or tmp_path / f"journal-{len(stores)}.sqlite3",
            max_staleness=max_staleness,
            **overrides,
        )
        store = RedisRevocationStore(settings, heartbeat=HEARTBEAT)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


def synced(store: RedisRevocationStore) -> RedisRevocationStore:
    assert store.wait_until_synced(WAIT), "the store never synced with Redis"
    return store


def stream(redis_server: RedisServer, key_prefix: str) -> list[StoredEntry | None]:
    """What the stream holds, decoded and authenticated (None: an entry that is not valid)."""
    codec = EntryCodec(KEYS, key_prefix)
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    try:
        raw = client.xrange(f"{key_prefix}stream")
    finally:
        client.close()
    return [codec.decode(fields.get(b"r")) for _id, fields in raw]


def test_make_revocation_store_builds_the_redis_store(
    redis_server: RedisServer, key_prefix: str, tmp_path: Path
) -> None:
    settings = store_settings(redis_server.url, key_prefix, tmp_path / "j.sqlite3")
    store = make_revocation_store(settings)
    try:
        assert isinstance(store, RedisRevocationStore)
        assert store.status().ready
    finally:
        store.close()


def test_session_revoked_on_one_instance_is_seen_by_another(make_store: StoreFactory) -> None:
    one, two = synced(make_store()), synced(make_store())
    one.revoke_session("jti-1", later())
    assert one.is_revoked("jti-1", "alice", 0)  # at once, locally
    assert eventually(lambda: two.is_revoked("jti-1", "alice", 0))
    assert not two.is_revoked("jti-2", "alice", 0)


def test_user_not_before_is_shared_and_keeps_the_latest_time(make_store: StoreFactory) -> None:
    one, two = synced(make_store()), synced(make_store())
    now, deadline = int(time.time()), later()
    one.revoke_user("alice", not_before=now, expires_at=deadline)
    assert eventually(lambda: two.is_revoked("any", "alice", now - 1))
    assert not two.is_revoked("any", "alice", now)
    assert not two.is_revoked("any", "bob", now - 1)
    two.revoke_user("alice", not_before=now + 10, expires_at=deadline)
    one.revoke_user("alice", not_before=now + 5, expires_at=deadline - 60)  # older, arrives late
    assert eventually(lambda: one.is_revoked("any", "alice", now + 9))
    assert two.wait_until_written(WAIT)
    assert one.wait_until_written(WAIT)
    time.sleep(HEARTBEAT * 2)
    assert two.is_revoked("any", "alice", now + 9)


def test_stream_entries_live_the_idle_window_or_until_the_deadline(
    make_store: StoreFactory, redis_server: RedisServer, key_prefix: str
) -> None:
    store = synced(make_store())
    written_at = int(time.time())
    store.revoke_session("jti-long", later())  # a deadline far past the idle window
    short_deadline = later(60)
    store.revoke_session("jti-short", short_deadline)  # a deadline within it
    store.revoke_user("alice", not_before=written_at, expires_at=later())
    assert store.wait_until_written(WAIT)
    entries = {(e.kind, e.ident): e for e in stream(redis_server, key_prefix) if e is not None}
    for name in (("jti", "jti-long"), ("sub", "alice")):
        assert written_at + LIFETIME <= entries[name].expires_at <= later(LIFETIME + 1)
    assert entries[("jti", "jti-short")].expires_at == short_deadline


def test_expired_entries_disappear_locally(make_store: StoreFactory) -> None:
    store = synced(make_store())
    store.revoke_session("jti-1", later(1))
    assert store.is_revoked("jti-1", "alice", 0)
    assert eventually(lambda: not store.is_revoked("jti-1", "alice", 0))


def test_an_instance_started_later_loads_the_list(make_store: StoreFactory) -> None:
    first = synced(make_store())
    first.revoke_session("jti-1", later())
    first.revoke_user("alice", not_before=100, expires_at=later())
    assert first.wait_until_written(WAIT)
    # Start-up waits briefly for the first load, so a new instance is current at once.
    second = make_store()
    status = second.status()
    assert status.ready
    assert status.full_loads == 1
    assert status.entries == 2
    assert second.is_revoked("jti-1", "bob", 0)
    assert second.is_revoked("jti-2", "alice", 99)


@pytest.mark.parametrize(
    "fields",
    [
        {b"r": b"\xff\xfe not utf-8"},
        {b"r": b'{"k":"jti","id":"x","v":5}'},
        {b"r": b"v1 jti 0 99999999999 k1 AAAAAAAAAAAAAAAAAAAAAA forged"},  # a wrong MAC
        {b"r": b"v1 jti 0 notanumber k1 AAAA x"},
        {b"r": b"v9 jti 0 1 k1 AAAA x"},
        {b"r": b""},
        {b"other": b"field"},
        {b"r": b"v1 jti 0 1 k1"},
    ],
)
def test_garbage_in_the_stream_is_skipped_and_never_breaks_the_sync(
    make_store: StoreFactory, redis_server: RedisServer, key_prefix: str, fields: dict
) -> None:
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    client.xadd(f"{key_prefix}stream", fields)  # present at the cold start
    one, two = synced(make_store()), synced(make_store())
    client.xadd(f"{key_prefix}stream", fields)  # and while following
    one.revoke_session("after-the-garbage", later())
    assert eventually(lambda: two.is_revoked("after-the-garbage", "alice", 0))
    assert two.status().synced
    assert not two.is_revoked("forged", "alice", 0)
    assert not two.is_revoked("x", "alice", 0)
    client.close()


def test_entries_follow_the_key_ring_through_a_rotation(key_prefix: str) -> None:
    """Stage 1 (old signs, new verify-only) and stage 2 (new signs, old verify-only) read each
    other's entries; stage 3 (new only) no longer reads entries MAC'd with the old key."""
    old, new = key(SECRET_1, "old"), key(SECRET_2, "new")
    stage_1 = EntryCodec((old, replace(new, verify_only=True)), key_prefix)
    stage_2 = EntryCodec((replace(old, verify_only=True), new), key_prefix)  # signer listed 2nd
    stage_3 = EntryCodec((new,), key_prefix)
    entry = StoredEntry("jti", "jti-1", not_before=later(), expires_at=later())
    from_1, from_2 = stage_1.encode(entry), stage_2.encode(entry)
    assert from_1.startswith(b"old ")
    assert from_2.startswith(b"new ")
    assert stage_2.decode(from_1) == entry
    assert stage_1.decode(from_2) == entry
    assert stage_3.decode(from_2) == entry
    assert stage_3.decode(from_1) is None  # why the old key stays verify-only long enough
    with pytest.raises(ValueError, match="exactly one signing key"):
        EntryCodec((replace(old, verify_only=True),), key_prefix)


def test_an_entry_forged_without_the_key_ring_is_ignored_and_never_written_back(
    make_store: StoreFactory, redis_server: RedisServer, key_prefix: str
) -> None:
    forger = EntryCodec((key(SECRET_2),), key_prefix)  # a well-formed entry, another key
    lockout = StoredEntry("sub", "alice", not_before=later(10**6), expires_at=later(10**6))
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    client.xadd(f"{key_prefix}stream", {b"r": forger.encode(lockout)})
    store = synced(make_store())
    assert not store.is_revoked("any", "alice", int(time.time()))
    redis_server.stop()  # comes back empty: the store repairs it with what it holds
    redis_server.start()
    store.revoke_session("jti-1", later())
    assert eventually(lambda: store.status().full_loads == 2)
    assert all(e is not None and e.ident != "alice" for e in stream(redis_server, key_prefix))


def test_a_store_that_never_reached_redis_is_infinitely_stale(make_store: StoreFactory) -> None:
    store = make_store(LONG, url="redis://127.0.0.1:9/0")  # nothing listens there
    assert not store.synced
    assert unavailable(store)
    status = store.status()
    assert not status.ready
    assert status.staleness == float("inf")
    store.revoke_session("jti-1", later())  # never raises: recorded locally and journaled
    status = store.status()
    assert status.pending_writes == 1
    assert status.journal_depth == 1


def test_an_outage_shorter_than_max_staleness_never_refuses_an_answer(
    make_store: StoreFactory, redis_server: RedisServer
) -> None:
    store = synced(make_store(max_staleness=4.0))
    store.revoke_session("jti-1", later())
    refusals: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                assert store.is_revoked("jti-1", "alice", 0)
            except RevocationUnavailable:
                refusals.append(time.monotonic())
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        redis_server.stop()
        assert eventually(lambda: not store.synced)
        time.sleep(1.0)
        redis_server.start()  # empty: repaired as well, still without a refusal
        assert store.wait_until_synced(WAIT)
    finally:
        stop.set()
        watcher.join()
    assert refusals == []


def test_an_outage_longer_than_max_staleness_fails_closed_then_recovers(
    make_store: StoreFactory, redis_server: RedisServer
) -> None:
    store = synced(make_store(SHORT))
    assert not store.is_revoked("jti-1", "alice", 0)
    redis_server.stop()
    assert eventually(lambda: unavailable(store))
    assert not store.status().ready
    redis_server.start()
    assert store.wait_until_synced(WAIT)
    assert store.status().ready
    assert not store.is_revoked("jti-1", "alice", 0)


def test_a_silent_redis_is_noticed_and_revocations_wait_in_the_journal(
    make_store: StoreFactory, redis_server: RedisServer
) -> None:
    store = synced(make_store(SHORT))
    redis_server.pause()  # the connection stays open, nothing answers
    try:
        assert eventually(lambda: unavailable(store))
        store.revoke_session("jti-1", later())
        assert store.status().journal_depth == 1
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


def test_revoke_while_redis_is_down_is_local_at_once_and_written_after_reconnect(
    make_store: StoreFactory, redis_server: RedisServer
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
    two = synced(make_store())
    assert two.is_revoked("jti-1", "bob", 0)
    assert two.is_revoked("jti-2", "alice", 99)


def test_a_redis_restarted_empty_is_repaired_by_writers_and_readers(
    make_store: StoreFactory, redis_server: RedisServer, key_prefix: str
) -> None:
    writer, reader = synced(make_store()), synced(make_store())
    writer.revoke_session("jti-1", later())
    assert eventually(lambda: reader.is_revoked("jti-1", "bob", 0))
    writer.close()  # only the instance that merely read the entry is left to repair it
    redis_server.stop()  # no persistence: it comes back empty
    redis_server.start()
    assert eventually(
        lambda: any(e and e.ident == "jti-1" for e in stream(redis_server, key_prefix))
    )
    assert reader.status().full_loads == 2
    assert synced(make_store()).is_revoked("jti-1", "bob", 0)


def test_a_killed_connection_with_200k_entries_resyncs_incrementally_without_refusing(
    make_store: StoreFactory, redis_server: RedisServer, key_prefix: str
) -> None:
    codec = EntryCodec(KEYS, key_prefix)
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    expires = later()
    for start in range(0, 200_000, 10_000):
        pipe = client.pipeline(transaction=False)
        for n in range(start, start + 10_000):
            pipe.xadd(
                f"{key_prefix}stream", {b"r": codec.encode(StoredEntry("jti", f"j{n}", 0, expires))}
            )
        pipe.execute()
    store = make_store(max_staleness=10.0)
    assert store.wait_until_synced(60)
    assert store.status().entries == 200_000
    assert eventually(lambda: store.status().ready)
    refusals: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                store.is_revoked("j1", "alice", 0)
            except RevocationUnavailable:
                refusals.append(time.monotonic())
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        assert client.client_kill_filter(_type="normal", skipme=True) >= 1  # the store's
        client.xadd(
            f"{key_prefix}stream", {b"r": codec.encode(StoredEntry("jti", "new", 0, expires))}
        )
        assert eventually(lambda: store.is_revoked("new", "alice", 0), 30)
    finally:
        stop.set()
        watcher.join()
        client.close()
    assert refusals == []
    assert store.status().full_loads == 1  # resumed from the last id: no reload


def test_close_stops_the_sync(make_store: StoreFactory) -> None:
    store = synced(make_store(SHORT))
    store.close()
    assert not store.synced
    assert unavailable(store)


def test_a_healthy_redis_keeps_the_sync_up_across_heartbeats(make_store: StoreFactory) -> None:
    """Regression: a healthy, idle sync never looks stale."""
    store = synced(make_store(SHORT))
    deadline = time.monotonic() + 3.0  # many XREAD timeouts
    while time.monotonic() < deadline:
        status = store.status()
        assert status.synced, "the sync dropped although Redis answered"
        assert status.staleness < SHORT
        time.sleep(0.01)


_KILLED_REVOKER = textwrap.dedent(
    """
    import base64, os, sys, time
    from pathlib import Path
    from loginsite.revocation.redis import RedisRevocationStore
    from loginsite.settings import RevocationSettings, SessionKey

    secret = base64.urlsafe_b64decode(sys.argv[3] + "=")
    settings = RevocationSettings(
        store="redis", redis_url=sys.argv[1], key_prefix=sys.argv[2], redis_timeout=0.5,
        max_staleness=2.0, journal=Path(sys.argv[4]), mac_keys=(SessionKey("k1", secret),),
    )
    store = RedisRevocationStore(settings, initial_wait=0)
    store.revoke_session("killed-jti", int(time.time()) + 3600)  # acknowledged when it returns
    print("revoked", flush=True)
    time.sleep(60)
    """
)


def test_a_revocation_acknowledged_before_a_sigkill_reaches_redis_after_restart(
    redis_server: RedisServer, key_prefix: str, tmp_path: Path, make_store: StoreFactory
) -> None:
    journal = tmp_path / "shared-journal.sqlite3"
    redis_server.stop()  # Redis is down for the whole life of the revoking process
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _KILLED_REVOKER,
            redis_server.url,
            key_prefix,
            SECRET_1,
            str(journal),
        ],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"revoked"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    redis_server.start()
    restarted = make_store(journal=journal)  # the process comes back on the same journal
    assert restarted.is_revoked("killed-jti", "alice", 0)  # applied from the journal at once
    assert restarted.wait_until_written(WAIT)
    other = synced(make_store())
    assert other.is_revoked("killed-jti", "alice", 0)


def test_a_replica_behind_redis_url_keeps_reads_going_and_writes_journaled(
    make_store: StoreFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    store = synced(make_store(LONG))
    (tmp_path / "other").mkdir()
    other = RedisServer(workdir=tmp_path / "other").start()
    try:
        redis_server.client().replicaof("127.0.0.1", other.port)  # demoted: READONLY
        store.revoke_session("jti-1", later())
        assert store.is_revoked("jti-1", "alice", 0)
        time.sleep(1.0)
        assert store.status().journal_depth == 1  # not lost, not blocking anything
        assert store.status().ready
        redis_server.client().replicaof("NO", "ONE")  # a master again
        assert store.wait_until_written(WAIT)
    finally:
        other.close()


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


# -- the Redis ACL the README documents ------------------------------------------------------

DOCUMENTED_ACL = (
    "-@all",
    "+xadd",
    "+xrange",
    "+xread",
    "+xinfo|stream",
    "+get",
    "+set",
    "+role",
    "+ping",
    "+wait",
)


def test_the_documented_acl_is_all_the_store_needs(
    make_store: StoreFactory, redis_server: RedisServer, key_prefix: str
) -> None:
    admin = redis_server.client()
    admin.execute_command(
        "ACL",
        "SETUSER",
        "loginsite",
        "on",
        ">s3cret-pw",
        "resetkeys",
        f"~{key_prefix}*",
        "resetchannels",
        *DOCUMENTED_ACL,
    )
    url = f"redis://loginsite:s3cret-pw@127.0.0.1:{redis_server.port}/0"
    one, two = synced(make_store(url=url)), synced(make_store(url=url))
    one.revoke_session("jti-1", later())
    one.revoke_user("alice", not_before=100, expires_at=later())
    assert eventually(lambda: two.is_revoked("jti-1", "bob", 0))
    assert eventually(lambda: two.is_revoked("x", "alice", 99))
    assert one.wait_until_written(WAIT)
    assert one.claim_once("event-1", later(60))
    assert not two.claim_once("event-1", later(60))
    third = synced(make_store(url=url))  # a cold start: XRANGE, XINFO, GET and SET NX
    assert third.is_revoked("jti-1", "bob", 0)
    admin.close()
