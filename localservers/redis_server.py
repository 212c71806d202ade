"""Throwaway ``redis-server`` and ``redis-sentinel`` processes on free loopback ports.

Nothing is persisted: a restart comes back empty, like a Redis without persistence after a crash.
A server may start as a replica of another, and may require a password; a Sentinel watches one
master and fails over to a replica when it dies. The tests take free ports; ``make cluster``
(``deploy/cluster.py``) passes fixed ones and passwords.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

START_TIMEOUT = 10.0


class RedisServerError(RuntimeError):
    """redis-server is missing or would not start; the message says why."""


def terminate(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Ask a child process to stop, and kill it if it will not."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """``with RedisServer() as server: server.url``; ``stop()``/``start()`` restart it on the
    same port, ``pause()``/``resume()`` freeze it with the connections left open.
    ``own_session``: out of the caller's process group, so a Ctrl-C reaches only the caller,
    which stops it in its turn."""

    def __init__(
        self,
        *,
        workdir: Path | None = None,
        cpus: set[int] | None = None,
        replica_of: int | None = None,
        port: int = 0,
        password: str | None = None,
        own_session: bool = False,
    ) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RedisServerError(
                "redis-server is not installed: run `make system-deps` "
                "(Debian/Ubuntu: apt-get install redis-server)"
            )
        self._executable = executable
        self._cpus = cpus
        self._replica_of = replica_of
        self._password = password
        self._own_session = own_session
        self._own_workdir = workdir is None
        self._workdir = workdir or Path(tempfile.mkdtemp(prefix="loginsite-redis-"))
        self._process: subprocess.Popen[bytes] | None = None
        self.port = port

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def client(self) -> redis.Redis:
        """A plain client for looking at what Redis holds (strings, not bytes)."""
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self._password,
            decode_responses=True,
            socket_timeout=5,
        )

    def start(self) -> RedisServer:
        """Start the server; on the same port as before after a :meth:`stop`."""
        if self.running:
            return self
        # A fresh free port may be taken between probing and binding: try a few.
        attempts = 1 if self.port else 5
        for attempt in range(attempts):
            if not self.port or attempt:
                self.port = free_port()
            if self._try_start():
                if self._cpus and hasattr(os, "sched_setaffinity"):
                    os.sched_setaffinity(self._process.pid, self._cpus)  # type: ignore[union-attr]
                return self
        raise RedisServerError(f"redis-server did not start on port {self.port}:\n{self._log()}")

    def stop(self) -> None:
        """Stop the server (clients see the connection drop); its data is gone."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGCONT)  # in case it was paused
        terminate(self._process)
        self._process = None

    def kill(self) -> None:
        """SIGKILL, like a crashed host: nothing is flushed, clients see the connection drop."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        self._process = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open and nothing answers, like a
        network partition. :meth:`resume` thaws it."""
        if self._process is None:
            raise RedisServerError("the server is not running")
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is None:
            raise RedisServerError("the server is not running")
        self._process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        """Stop the server and remove what it left behind."""
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _try_start(self) -> bool:
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "no",
            "daemonize": "no",
            "dir": str(self._workdir),
        }
        if self._replica_of is not None:
            options["replicaof"] = f"127.0.0.1 {self._replica_of}"
        if self._password is not None:
            # Every node may become the master or a replica after a failover: both settings.
            options["requirepass"] = self._password
            options["masterauth"] = self._password
        args = [arg for name, value in options.items() for arg in (f"--{name}", value)]
        with (self._workdir / "redis.log").open("ab") as log:
            self._process = subprocess.Popen(
                [self._executable, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._workdir,
                start_new_session=self._own_session,
            )
        probe = redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self._password,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
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
        self.stop()
        return False

    def _log(self) -> str:
        path = self._workdir / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"


class SentinelServer:
    """One ``redis-sentinel`` watching ``master_port`` as ``name``, quick to act: a master that
    does not answer for ``down_after`` ms is failed over to a replica once ``quorum`` Sentinels
    agree. ``master_password`` is the nodes' ``requirepass``; ``password`` this Sentinel's own."""

    def __init__(
        self,
        *,
        workdir: Path,
        master_port: int,
        name: str = "loginsite",
        down_after: int = 500,
        quorum: int = 1,
        port: int = 0,
        master_password: str | None = None,
        password: str | None = None,
        own_session: bool = False,
    ) -> None:
        executable = shutil.which("redis-sentinel")
        if executable is None:
            raise RedisServerError(
                "redis-sentinel is not installed: run `make system-deps` "
                "(Debian/Ubuntu: apt-get install redis-sentinel)"
            )
        self._executable = executable
        self._workdir = workdir
        self._master_port = master_port
        self._down_after = down_after
        self._quorum = quorum
        self._master_password = master_password
        self._password = password
        self._fixed_port = port
        self._own_session = own_session
        self.name = name
        self._process: subprocess.Popen[bytes] | None = None
        self.port = port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self._password,
            decode_responses=True,
            socket_timeout=5,
        )

    def master_port(self) -> int:
        """The port of the master this Sentinel currently names."""
        _host, port = self.client().sentinel_get_master_addr_by_name(self.name)
        return int(port)

    def start(self) -> SentinelServer:
        for _attempt in range(1 if self._fixed_port else 5):
            self.port = self._fixed_port or free_port()
            config = self._workdir / f"sentinel-{self.port}.conf"
            lines = [
                f"port {self.port}",
                "bind 127.0.0.1",
                f"dir {self._workdir}",
                f"sentinel monitor {self.name} 127.0.0.1 {self._master_port} {self._quorum}",
                f"sentinel down-after-milliseconds {self.name} {self._down_after}",
                f"sentinel failover-timeout {self.name} 2000",
                f"sentinel parallel-syncs {self.name} 1",
            ]
            if self._master_password is not None:
                lines.append(f"sentinel auth-pass {self.name} {self._master_password}")
            if self._password is not None:
                # Sentinels also use it to authenticate to each other.
                lines.append(f"requirepass {self._password}")
            config.write_text("\n".join(lines) + "\n")
            with (self._workdir / "sentinel.log").open("ab") as log:
                self._process = subprocess.Popen(
                    [self._executable, str(config)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self._workdir,
                    start_new_session=self._own_session,
                )
            deadline = time.monotonic() + START_TIMEOUT
            probe = redis.Redis(
                host="127.0.0.1", port=self.port, password=self._password, socket_timeout=0.5
            )
            try:
                while time.monotonic() < deadline and self._process.poll() is None:
                    try:
                        if probe.ping():
                            return self
                    except redis.RedisError:
                        time.sleep(0.02)
            finally:
                probe.close()
            self.close()
        raise RedisServerError("redis-sentinel did not start")

    def close(self) -> None:
        if self._process is not None:
            terminate(self._process)
            self._process = None

    def __enter__(self) -> SentinelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
