"""A throwaway ``redis-server`` on a free loopback port, started and stopped by the benchmark."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """``with RedisServer() as server: server.url``; nothing is persisted."""

    def __init__(self, *, cpus: set[int] | None = None) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError(
                "redis-server is not installed: run `make system-deps` "
                "(Debian/Ubuntu: apt-get install redis-server)"
            )
        self._executable = executable
        self._cpus = cpus
        self._workdir = Path(tempfile.mkdtemp(prefix="loginsite-bench-redis-"))
        self._process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> RedisServer:
        for _ in range(5):  # the free port may be taken between probing and binding
            self.port = free_port()
            if self._try_start():
                if self._cpus and hasattr(os, "sched_setaffinity"):
                    os.sched_setaffinity(self._process.pid, self._cpus)
                return self
        log = (self._workdir / "redis.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"redis-server did not start:\n{log}")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _try_start(self) -> bool:
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "no",
            "daemonize": "no",
            "dir": str(self._workdir),
        }
        args = [arg for name, value in options.items() for arg in (f"--{name}", value)]
        with (self._workdir / "redis.log").open("ab") as log:
            self._process = subprocess.Popen(
                [self._executable, *args], stdout=log, stderr=subprocess.STDOUT, cwd=self._workdir
            )
        probe = redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        deadline = time.monotonic() + START_TIMEOUT
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
        self._process.kill()
        self._process.wait()
        self._process = None
        return False
