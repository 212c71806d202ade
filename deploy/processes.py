"""The cluster's child processes: each with its log file, in a session of its own."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from localservers.redis_server import terminate

#: pserve on a busy 2-core machine, with a large revocation list to load.
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


class ClusterError(RuntimeError):
    """A part of the cluster is missing or would not start; the message says which and why."""


def wait_for(what: str, check: Callable[[], bool], timeout: float, log: Path | None = None) -> None:
    """Poll ``check`` until it holds; past ``timeout`` raise, with the end of ``log``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            tail = ""
            if log is not None and log.exists():
                tail = "\n" + log.read_text(errors="replace")[-3000:]
            raise ClusterError(f"{what}: not within {timeout:.0f} s{tail}")
        time.sleep(0.05)


@dataclass
class Service:
    """One child process with its log file; started in a session of its own, so a Ctrl-C
    reaches only the orchestrator, which stops the children in order."""

    name: str
    argv: list[str]
    log: Path
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_offset: int = 0  # where this run's lines start in ``log``

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL, like a crashed host: nothing is flushed, nothing shut down."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process, timeout=STOP_TIMEOUT)

    def log_text(self) -> str:
        """This run's part of the log."""
        if not self.log.exists():
            return ""
        with self.log.open("rb") as log:
            log.seek(self.log_offset)
            return log.read().decode(errors="replace")


@dataclass
class Instance(Service):
    """A loginsite instance: ``pserve deploy/loginsite.ini``."""

    port: int = 0
    metrics_port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def ready(self) -> bool:
        """Its own ``/readyz`` says 200 (asked directly, not through the load balancer)."""
        if not self.running:
            raise ClusterError(f"{self.name} exited:\n{self.log_text()[-3000:]}")
        try:
            return requests.get(self.url + "/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        wait_for(f"{self.name} ready (/readyz 200)", self.ready, timeout, self.log)
