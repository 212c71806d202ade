"""Real, throwaway ``redis-server`` (and ``redis-sentinel``) processes per test.

Each test gets its own servers on free loopback ports with their own data directories, so tests
run in parallel (pytest-xdist) without sharing state. The launchers live in ``localservers/``,
which the benchmarks use too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from localservers.redis_server import RedisServer, RedisServerError, SentinelServer

__all__ = ["RedisServer", "SentinelCluster", "SentinelServer", "redis_server", "sentinel_cluster"]


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A running redis-server for this test only; stopped afterwards."""
    try:
        server = RedisServer(workdir=tmp_path_factory.mktemp("redis")).start()
    except RedisServerError as exc:
        pytest.fail(f"these tests need a real redis-server: {exc}")
    try:
        yield server
    finally:
        server.close()


@dataclass
class SentinelCluster:
    """A master, one replica and a Sentinel watching them (quorum 1)."""

    primary: RedisServer
    replica: RedisServer
    sentinel: SentinelServer

    def node_on(self, port: int) -> RedisServer:
        return self.primary if self.primary.port == port else self.replica


@pytest.fixture
def sentinel_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelCluster]:
    """A master, a replica and a Sentinel for this test only; all stopped afterwards."""
    started: list[RedisServer | SentinelServer] = []
    try:
        primary = RedisServer(workdir=tmp_path_factory.mktemp("primary")).start()
        started.append(primary)
        replica = RedisServer(
            workdir=tmp_path_factory.mktemp("replica"), replica_of=primary.port
        ).start()
        started.append(replica)
        sentinel = SentinelServer(
            workdir=tmp_path_factory.mktemp("sentinel"), master_port=primary.port
        ).start()
        started.append(sentinel)
    except RedisServerError as exc:
        for server in started:
            server.close()
        pytest.fail(f"these tests need real redis-server and redis-sentinel: {exc}")
    try:
        yield SentinelCluster(primary, replica, sentinel)
    finally:
        for server in reversed(started):
            server.close()
