"""Over HTTP: each variant served by waitress in its own process, loaded by ``wrk`` with keep-alive.

The servers are pinned to one CPU (``taskset -c 1``) and wrk to the other (``taskset -c 0``):
unpinned on a 2-core VM they fight over the same core and the ranking comes out scrambled. All
servers start once and stay up; rounds are interleaved (every round runs wrk for a short fixed
time against every server, in a shuffled order), so machine drift hits all variants alike.

Sixteen keep-alive connections against waitress's four threads: with eight, the load pattern
rather than the work decided the ratios (the bare app sent an inert cookie header ran at
0.85-0.89x of itself without one, run after run); with sixteen that control sits within noise of
1.0 and the alternatives land where the issue measured them. Each round also reads the server's
CPU time from ``/proc``: CPU µs per request is the steadier measure of the work a variant adds.

``python -m benchmarks.http serve NAME PORT`` is the server process (its config in the
``LOGINSITE_BENCH_CONFIG`` environment variable).
"""

from __future__ import annotations

import http.client
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.inprocess import Headers
from benchmarks.variants import BenchConfig
from localservers.redis_server import free_port, terminate

CONFIG_ENV = "LOGINSITE_BENCH_CONFIG"
SERVER_THREADS = 4
CONNECTIONS = 16
START_TIMEOUT = 120.0  # generous: the servers start pinned to one CPU that may be busy
ROOT = Path(__file__).resolve().parent.parent


def can_pin() -> bool:
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def pinned(cpu: int, argv: list[str], pin: bool) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if pin else argv


class HTTPClient:
    """A plain keep-alive-less client for the checks (not for load)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def get(self, path: str, cookie: str | None = None) -> tuple[int, str, Headers]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
            response = conn.getresponse()
            body = response.read().decode()
            return response.status, body, list(response.getheaders())
        finally:
            conn.close()


class Server:
    """One variant under waitress in a subprocess, pinned to ``cpu``."""

    def __init__(self, name: str, cfg: BenchConfig, *, cpu: int = 1, pin: bool = True) -> None:
        self.name = name
        self.port = free_port()
        self.log_path = Path(tempfile.mkstemp(prefix=f"loginsite-bench-{name}-", suffix=".log")[1])
        argv = [sys.executable, "-m", "benchmarks.http", "serve", name, str(self.port)]
        env = {**os.environ, CONFIG_ENV: cfg.to_json()}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                pinned(cpu, argv, pin), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.client = HTTPClient(self.port)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the {self.name} server exited:\n{self.log()}")
            try:
                if self.client.get("/whoami")[0] == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the {self.name} server did not start:\n{self.log()}")

    def cpu_seconds(self) -> float | None:
        """User + system CPU the server process has used (Linux ``/proc``), or None."""
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        terminate(self.process)
        if not os.environ.get("LOGINSITE_BENCH_KEEP_LOGS"):
            self.log_path.unlink(missing_ok=True)


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    #: the server's CPU time over the run divided by the requests served (None: not measured)
    server_cpu_us: float | None = None


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"cannot read wrk's latency {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse_wrk(output: str) -> WrkResult:
    """Requests/s, the 50% and 99% latency of ``wrk --latency``, and any errors."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    total = re.search(r"(\d+) requests in", output)
    if not (rps and p50 and p99 and total):
        raise RuntimeError(f"cannot parse wrk's output:\n{output}")
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non2xx:
        errors += int(non2xx[1])
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if socket:
        errors += sum(int(n) for n in socket.groups())
    return WrkResult(float(rps[1]), _ms(p50[1]), _ms(p99[1]), int(total[1]), errors)


def wrk_command(port: int, cookie: str | None, duration: int, *, pin: bool) -> list[str]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed: run `make system-deps` (apt-get install wrk)")
    argv = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency"]
    if cookie:
        argv += ["-H", f"Cookie: {cookie}"]
    argv.append(f"http://127.0.0.1:{port}/whoami")
    return pinned(0, argv, pin)


def run_wrk(port: int, cookie: str | None, duration: int, *, pin: bool) -> WrkResult:
    completed = subprocess.run(
        wrk_command(port, cookie, duration, pin=pin),
        capture_output=True,
        text=True,
        timeout=duration + 30,
        check=True,
    )
    return parse_wrk(completed.stdout)


@dataclass
class HTTPResult:
    rounds: int
    duration: int
    pinned: bool
    samples: dict[str, list[WrkResult]] = field(default_factory=dict)
    #: lines the servers logged about the redis revocation sync breaking (fail-closed periods)
    sync_breaks: dict[str, int] = field(default_factory=dict)
    #: requests the server refused (logged), e.g. fail-closed while the redis sync was broken
    refused: dict[str, int] = field(default_factory=dict)
    #: times a server answered wrongly (e.g. anonymous) when checked after a round
    wrong_after_round: dict[str, int] = field(default_factory=dict)

    def rps(self, name: str) -> float:
        return statistics.median(s.requests_per_second for s in self.samples[name])

    def ratio(self, name: str, floor: str = "bare") -> float:
        """Median over rounds of (variant / floor) in the same round."""
        pairs = zip(self.samples[name], self.samples[floor], strict=True)
        return statistics.median(a.requests_per_second / b.requests_per_second for a, b in pairs)

    def p50_ms(self, name: str) -> float:
        return statistics.median(s.p50_ms for s in self.samples[name])

    def p99_ms(self, name: str) -> float:
        return statistics.median(s.p99_ms for s in self.samples[name])

    def cpu_us(self, name: str) -> float | None:
        values = [s.server_cpu_us for s in self.samples[name] if s.server_cpu_us is not None]
        return statistics.median(values) if values else None

    def errors(self, name: str) -> int:
        return sum(s.errors for s in self.samples[name])


def run_http(
    servers: dict[str, Server],
    cookie_for: Callable[[str], str | None],
    check_body: Callable[[str, str | None], None],
    *,
    rounds: int,
    duration: int,
    warmup: int = 1,
    pin: bool = True,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> HTTPResult:
    """Interleaved wrk rounds against already-running, already-checked servers.

    ``cookie_for(name)`` gives a fresh cookie per round (so no session nears renewal);
    ``check_body(name, cookie)`` proves after each round that the server still authenticates.
    """
    result = HTTPResult(rounds=rounds, duration=duration, pinned=pin)
    result.samples = {name: [] for name in servers}
    if warmup > 0:
        for name, server in servers.items():
            run_wrk(server.port, cookie_for(name), warmup, pin=pin)
    rng = random.Random(seed)
    for round_no in range(rounds):
        order = list(servers)
        rng.shuffle(order)
        for name in order:
            cookie = cookie_for(name)
            before = servers[name].cpu_seconds()
            sample = run_wrk(servers[name].port, cookie, duration, pin=pin)
            after = servers[name].cpu_seconds()
            if before is not None and after is not None and sample.requests:
                sample.server_cpu_us = (after - before) / sample.requests * 1e6
            result.samples[name].append(sample)
            check_body(name, cookie)
        progress(f"HTTP round {round_no + 1}/{rounds}")
    for name, server in servers.items():
        text = server.log_path.read_text(errors="replace")
        result.sync_breaks[name] = text.count("revocation sync with Redis is broken")
        result.refused[name] = text.count("session.refused")
    return result


def serve(name: str, port: int) -> None:
    import logging

    import waitress

    from benchmarks.variants import build

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    # waitress warns on every queued request under load: logging that would cost more than the
    # request itself.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    app = build(name, BenchConfig.from_json(os.environ[CONFIG_ENV]))
    waitress.serve(app, host="127.0.0.1", port=port, threads=SERVER_THREADS, _quiet=True)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "serve":
        sys.exit("usage: python -m benchmarks.http serve NAME PORT")
    serve(sys.argv[2], int(sys.argv[3]))
