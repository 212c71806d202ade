"""A real, throwaway ``redis-server`` per test, which tests may stop and start again.

Each test gets its own server on a free loopback port with its own data directory, so tests
run in parallel (pytest-xdist) without sharing state. Nothing is persisted: a restart comes
back empty, like a Redis without persistence after a crash.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

START_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """One ``redis-server``: ``.url``, ``.port``, ``.stop()``, ``.start()``, ``.pause()``,
    ``.resume()``, ``.client()``."""

    def __init__(self, executable: str, workdir: Path) -> None:
        self._executable = executable
        self._workdir = workdir
        self._process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def client(self) -> redis.Redis:
        """A plain client for checking what Redis holds (strings, not bytes)."""
        return redis.Redis(
            host="127.0.0.1", port=self.port, decode_responses=True, socket_timeout=5
        )

    def start(self) -> None:
        """Start the server; on the same port as before after a :meth:`stop`."""
        if self.running:
            return
        attempts = 1 if self.port else 5
        for attempt in range(attempts):
            if not self.port or attempt:
                self.port = _free_port()
            if self._try_start():
                return
        pytest.fail(f"redis-server did not start on port {self.port}:\n{self._log()}")

    def stop(self) -> None:
        """Stop the server (clients see the connection drop); its data is gone."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGCONT)  # in case it was paused
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open but nothing answers, like a
        network partition. :meth:`resume` thaws it."""
        assert self._process is not None, "the server is not running"
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None, "the server is not running"
        self._process.send_signal(signal.SIGCONT)

    def _try_start(self) -> bool:
        log = (self._workdir / "redis.log").open("ab")
        with log:
            self._process = subprocess.Popen(
                [self._executable, *self._arguments()],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._workdir,
            )
        deadline = time.monotonic() + START_TIMEOUT
        probe = redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        try:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:  # e.g. the port was taken meanwhile
                    self._process = None
                    return False
                try:
                    if probe.ping():
                        return True
                except redis.RedisError:
                    time.sleep(0.02)
        finally:
            probe.close()
        self.stop()
        return False

    def _arguments(self) -> list[str]:
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "no",
            "daemonize": "no",
            "dir": str(self._workdir),
        }
        return [arg for name, value in options.items() for arg in (f"--{name}", value)]

    def _log(self) -> str:
        path = self._workdir / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A running redis-server for this test only; stopped afterwards."""
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.fail(
            "redis-server is not installed; these tests need a real one "
            "(Debian/Ubuntu: apt-get install redis-server)"
        )
    server = RedisServer(executable, tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
