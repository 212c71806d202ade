"""The Redis store behind Redis Sentinel: a failover after the primary is SIGKILLed, the old
primary rejoining as a replica, and a demoted (READONLY) master followed to the new one."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from loginsite.revocation import RevocationUnavailable
from loginsite.revocation.redis import EntryCodec, RedisRevocationStore
from loginsite.settings import RevocationSettings
from tests.plugins.redis_server import SentinelCluster
from tests.test_revocation_redis import KEYS, eventually, later

pytestmark = pytest.mark.redis

#: A failover takes down-after (0.5 s) plus the election and promotion: a few seconds.
FAILOVER = 20.0

StoreFactory = Callable[..., RedisRevocationStore]


@pytest.fixture
def make_store(sentinel_cluster: SentinelCluster, tmp_path: Path) -> Iterator[StoreFactory]:
    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    stores: list[RedisRevocationStore] = []

    def make() -> RedisRevocationStore:
        settings = RevocationSettings(
            store="redis",
            sentinels=(("127.0.0.1", sentinel_cluster.sentinel.port),),
            sentinel_master=sentinel_cluster.sentinel.name,
            key_prefix=prefix,
            redis_timeout=0.5,
            max_staleness=15.0,  # longer than a failover: nobody sees a refusal
            journal=tmp_path / f"journal-{len(stores)}.sqlite3",
            wait_replicas=1,  # an acknowledged revocation is on the replica before a failover
            mac_keys=KEYS,
        )
        store = RedisRevocationStore(settings, heartbeat=0.2)
        assert store.wait_until_synced(10), "the store never synced through the Sentinel"
        stores.append(store)
        return store

    make.prefix = prefix  # type: ignore[attr-defined]
    yield make
    for store in stores:
        store.close()


def replica_known(cluster: SentinelCluster) -> bool:
    """The Sentinel lists the replica as healthy (only then can it fail over to it)."""
    replicas = cluster.sentinel.client().sentinel_slaves(cluster.sentinel.name)
    return any(r.get("master-link-status") == "ok" and not r.get("is_sdown") for r in replicas)


class Refusals:
    """Counts moments a store refused to answer, from a thread, while a test runs."""

    def __init__(self, stores: list[RedisRevocationStore]) -> None:
        self.times: list[float] = []
        self._stores = stores
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch)

    def _watch(self) -> None:
        while not self._stop.is_set():
            for store in self._stores:
                try:
                    store.is_revoked("probe", "probe", 0)
                except RevocationUnavailable:
                    self.times.append(time.monotonic())
            time.sleep(0.01)

    def __enter__(self) -> Refusals:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_a_sigkilled_primary_fails_over_with_every_revocation_kept_and_no_refusal(
    sentinel_cluster: SentinelCluster, make_store: StoreFactory
) -> None:
    assert eventually(lambda: replica_known(sentinel_cluster), 15)
    one, two = make_store(), make_store()
    for n in range(20):
        one.revoke_session(f"before-{n}", later())
    one.revoke_user("alice", not_before=100, expires_at=later())
    assert one.wait_until_written(5)
    old_port = sentinel_cluster.primary.port
    with Refusals([one, two]) as refusals:
        sentinel_cluster.primary.kill()
        assert eventually(lambda: sentinel_cluster.sentinel.master_port() != old_port, FAILOVER)
        one.revoke_session("after", later())  # new sign-outs work on the new master
        assert one.wait_until_written(FAILOVER)
        assert eventually(lambda: two.is_revoked("after", "bob", 0), FAILOVER)
        sentinel_cluster.primary.start()  # back on its port, empty: it must rejoin as a replica
        rejoined = sentinel_cluster.primary.client()
        assert eventually(lambda: rejoined.role()[0] == "slave", FAILOVER)
    assert refusals.times == []
    late = make_store()  # a cold start reads only what the new master holds
    assert all(late.is_revoked(f"before-{n}", "bob", 0) for n in range(20))
    assert late.is_revoked("x", "alice", 99)
    assert late.is_revoked("after", "bob", 0)


def test_a_demoted_master_is_followed_to_the_new_one(
    sentinel_cluster: SentinelCluster, make_store: StoreFactory
) -> None:
    assert eventually(lambda: replica_known(sentinel_cluster), 15)
    one, two = make_store(), make_store()
    one.revoke_session("before", later())
    assert one.wait_until_written(5)
    old_port = sentinel_cluster.primary.port
    # A forced failover: the old master stays up and turns into a replica (writes: READONLY).
    sentinel_cluster.sentinel.client().execute_command(
        "SENTINEL", "FAILOVER", sentinel_cluster.sentinel.name
    )
    assert eventually(lambda: sentinel_cluster.sentinel.master_port() != old_port, FAILOVER)
    assert eventually(lambda: sentinel_cluster.primary.client().role()[0] == "slave", FAILOVER)
    one.revoke_session("after", later())
    assert one.wait_until_written(FAILOVER)
    assert eventually(lambda: two.is_revoked("after", "bob", 0), FAILOVER)
    new_master = redis.Redis(host="127.0.0.1", port=sentinel_cluster.sentinel.master_port())
    codec = EntryCodec(KEYS, make_store.prefix)  # type: ignore[attr-defined]
    held = [codec.decode(f.get(b"r")) for _id, f in new_master.xrange(f"{make_store.prefix}stream")]  # type: ignore[attr-defined]
    new_master.close()
    assert {e.ident for e in held if e is not None} >= {"before", "after"}
