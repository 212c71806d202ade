"""A real, throwaway ``redis-server`` per test, which tests may stop, start, pause and resume.

Each test gets its own server on a free loopback port with its own data directory, so tests
run in parallel (pytest-xdist) without sharing state. The server itself is the benchmark's
(``benchmarks/redis_server.py``): one implementation for both.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks.redis_server import RedisServer, RedisServerError

__all__ = ["RedisServer", "redis_server"]


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
