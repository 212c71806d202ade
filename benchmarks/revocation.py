"""``python -m benchmarks.revocation [--smoke] [--output PATH]``: the revocation store alone.

For each list size (10k, 100k, 1M live entries) and for a simulated day (10M sign-outs a day,
15-minute idle timeout, 12 h max age, max_staleness 30 s, clock skew 5 s: the stream holds one
entry lifetime, 935 s, of sign-outs), one fresh app-like process (a child interpreter, so its
RSS is its own) measures:

- cold start: from building the store to ``status().ready``;
- memory: RSS before and after the load, the peak RSS (VmHWM, the load peak included), and, in
  a second child with ``tracemalloc`` on, the traced size and traced peak;
- reconnect: every connection of the child killed (``CLIENT KILL``) and an entry added at
  once: the time until the child has it, whether it ever refused an answer meanwhile (sampled
  every 0.5 ms), and whether it had to reload (a full load would count);
- ``is_revoked`` cost (a hit and a miss, µs per call, in-process);
- write throughput: revocations acknowledged per second (each one journaled with an fsync),
  and until every one is in Redis.

Then, on an otherwise idle list, how long a revocation on one instance takes to be seen by
another (p50/p99 of 200, polling every 0.2 ms). ``--smoke`` runs tiny counts and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from localservers.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results.md"
SECTION = "## Revocation store"

IDLE, MAX_AGE, STALENESS, SKEW = 900, 43_200, 30.0, 5
LIFETIME = math.ceil(IDLE + STALENESS + SKEW)
SIGN_OUTS_PER_DAY = 10_000_000
#: Targets (issue 11): RSS for the simulated day, cold start, propagation p99.
TARGET_RSS_MB = 64
TARGET_READY_S = 2.0
TARGET_PROPAGATION_MS = 100


@dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...]
    day_fraction: float  # of the simulated day's live entries
    writes: int
    lookups: int
    propagation_samples: int


FULL = Plan(
    sizes=(10_000, 100_000, 1_000_000),
    day_fraction=1.0,
    writes=2000,
    lookups=200_000,
    propagation_samples=200,
)
SMOKE = Plan(sizes=(1_000,), day_fraction=0.01, writes=20, lookups=2000, propagation_samples=5)


def say(message: str) -> None:
    print(f"[bench-revocation {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _keys() -> tuple[Any, ...]:
    from loginsite.settings import SessionKey

    return (SessionKey("bench", b"b" * 32),)


def _settings(url: str, prefix: str, journal: Path) -> Any:
    from loginsite.settings import RevocationSettings

    return RevocationSettings(
        store="redis",
        redis_url=url,
        key_prefix=prefix,
        redis_timeout=1.0,
        max_staleness=STALENESS,
        clock_skew=SKEW,
        idle_timeout=IDLE,
        journal=journal,
        mac_keys=_keys(),
    )


def populate(url: str, prefix: str, live: int, *, day: bool) -> None:
    """Fill the stream as it would be: ``live`` entries with ids spread over one lifetime.

    A day's entries expire a lifetime after they were added; the others an hour from now.
    About 1% are per-user not-befores ("sign out everywhere"), the rest single sessions.
    """
    from loginsite.revocation.redis import EntryCodec, StoredEntry

    codec = EntryCodec(_keys(), prefix)
    client = redis.Redis.from_url(url)
    now = time.time()
    start_ms = int((now - LIFETIME + 5) * 1000)
    span_ms = (LIFETIME - 10) * 1000
    stream = f"{prefix}stream"
    try:
        for first in range(0, live, 10_000):
            pipe = client.pipeline(transaction=False)
            for n in range(first, min(live, first + 10_000)):
                ms = start_ms + span_ms * n // live
                expires = ms // 1000 + LIFETIME if day else int(now) + 3600
                if n % 100 == 0:
                    entry = StoredEntry("sub", str(uuid.uuid4()), ms // 1000, expires)
                else:
                    entry = StoredEntry("jti", secrets.token_urlsafe(16), 0, expires)
                pipe.xadd(stream, {b"r": codec.encode(entry)}, id=f"{ms}-{n + 1}")
            pipe.execute()
    finally:
        client.close()


def _rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB, from /proc."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def child(url: str, prefix: str, journal: str, plan_name: str, trace: bool) -> dict[str, Any]:
    """One app-like process: load, look up, reconnect, write; returns what it measured."""
    import tracemalloc

    from loginsite.revocation import RevocationUnavailable
    from loginsite.revocation.redis import RedisRevocationStore

    plan = SMOKE if plan_name == "smoke" else FULL
    settings = _settings(url, prefix, Path(journal))
    if trace:
        tracemalloc.start()
    rss_before, _ = _rss_mb()
    started = time.perf_counter()
    store = RedisRevocationStore(settings, initial_wait=0)
    while True:  # until a request would get an answer, asking as a busy server would
        try:
            store.is_revoked("probe", "probe", 0)
            break
        except RevocationUnavailable:
            time.sleep(0.005)
    cold = time.perf_counter() - started
    result: dict[str, Any] = {"entries": store.status().entries, "cold_start_s": cold}
    if trace:
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        store.close()
        return {**result, "traced_mb": current / 2**20, "traced_peak_mb": peak / 2**20}
    rss_after, rss_peak = _rss_mb()
    result.update(rss_before_mb=rss_before, rss_after_mb=rss_after, rss_peak_mb=rss_peak)

    store.revoke_session("bench-hit", int(time.time()) + MAX_AGE)
    for name, session_id in (("is_revoked_hit_us", "bench-hit"), ("is_revoked_miss_us", "miss")):
        t = time.perf_counter()
        for _ in range(plan.lookups):
            store.is_revoked(session_id, "nobody", 0)
        result[name] = (time.perf_counter() - t) / plan.lookups * 1e6

    refusals = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal refusals
        while not stop.is_set():
            try:
                store.is_revoked("probe", "probe", 0)
            except RevocationUnavailable:
                refusals += 1
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    # Kill every connection, then add an entry: how long until this process is current again?
    # (redis-py may reconnect an idle pooled connection without an error ever surfacing.)
    from loginsite.revocation.redis import EntryCodec, StoredEntry

    probe = EntryCodec(_keys(), prefix).encode(
        StoredEntry("jti", "reconnect-probe", 0, int(time.time()) + 3600)
    )
    admin = redis.Redis.from_url(url)
    before = store.status()
    t = time.perf_counter()
    admin.client_kill_filter(_type="normal", skipme=True)
    admin.xadd(f"{prefix}stream", {b"r": probe})
    while not store.is_revoked("reconnect-probe", "x", 0) and time.perf_counter() - t < 60:
        time.sleep(0.0005)
    result["reconnect_s"] = time.perf_counter() - t
    stop.set()
    sampler.join()
    result["reconnect_refusals"] = refusals
    result["reconnect_full_loads"] = store.status().full_loads - before.full_loads
    admin.close()

    deadline = int(time.time()) + MAX_AGE
    t = time.perf_counter()
    for n in range(plan.writes):
        store.revoke_session(f"bench-write-{n}-{secrets.token_hex(4)}", deadline)
    acked = time.perf_counter() - t
    store.wait_until_written(120)
    written = time.perf_counter() - t
    result["writes_acked_per_s"] = plan.writes / acked
    result["writes_in_redis_per_s"] = plan.writes / written
    store.close()
    return result


def measure(url: str, prefix: str, workdir: Path, plan_name: str, trace: bool) -> dict[str, Any]:
    journal = workdir / f"journal-{secrets.token_hex(4)}.sqlite3"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.revocation",
            "--child",
            url,
            prefix,
            str(journal),
            plan_name,
            "trace" if trace else "plain",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"the revocation benchmark child failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def propagation(url: str, workdir: Path, samples: int) -> list[float]:
    """Milliseconds from a revocation on one store until another store answers True."""
    from loginsite.revocation.redis import RedisRevocationStore

    prefix = f"bench-prop-{secrets.token_hex(4)}:"
    one = RedisRevocationStore(_settings(url, prefix, workdir / "prop-1.sqlite3"))
    two = RedisRevocationStore(_settings(url, prefix, workdir / "prop-2.sqlite3"))
    try:
        latencies = []
        deadline = int(time.time()) + MAX_AGE
        for n in range(samples):
            jti = f"prop-{n}"
            t = time.perf_counter()
            one.revoke_session(jti, deadline)
            while not two.is_revoked(jti, "x", 0):
                time.sleep(0.0002)
            latencies.append((time.perf_counter() - t) * 1000)
            time.sleep(0.01)
        return latencies
    finally:
        one.close()
        two.close()


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(plan: Plan, *, plan_name: str) -> str:
    started = time.monotonic()
    rows: list[tuple[str, dict[str, Any]]] = []
    day_live = int(SIGN_OUTS_PER_DAY / 86_400 * LIFETIME * plan.day_fraction)
    cases = [(f"{n:,} entries", n, False) for n in plan.sizes]
    cases.append((f"simulated day ({day_live:,} live)", day_live, True))
    workdir = Path(tempfile.mkdtemp(prefix="loginsite-bench-revocation-"))
    with RedisServer(workdir=workdir) as server:
        for label, live, day in cases:
            prefix = f"bench-{secrets.token_hex(4)}:"
            say(f"{label}: filling the stream")
            populate(server.url, prefix, live, day=day)
            say(f"{label}: cold start, lookups, reconnect, writes")
            plain = measure(server.url, prefix, workdir, plan_name, trace=False)
            say(f"{label}: tracemalloc")
            traced = measure(server.url, prefix, workdir, plan_name, trace=True)
            # The plain child's writes are in Redis when the traced one loads: its own counts.
            traced = {k: traced[k] for k in ("traced_mb", "traced_peak_mb")}
            rows.append((label, {**plain, **traced}))
            server.client().flushall()
        say("propagation between two instances")
        latencies = propagation(server.url, workdir, plan.propagation_samples)
    return render(rows, latencies, time.monotonic() - started)


def render(rows: list[tuple[str, dict[str, Any]]], latencies: list[float], elapsed: float) -> str:
    lines = [
        SECTION,
        "",
        f"`python -m benchmarks.revocation`, {time.strftime('%Y-%m-%d')}, {elapsed:.0f} s. Each "
        "row is a fresh child process loading the stream from a local redis-server. Memory: "
        "RSS growth over the process before the load (and peak RSS of the whole process), "
        "tracemalloc's traced size after the load (and its peak during it).",
        "",
        "| list | live entries | ready after cold start (s) | RSS +load (MB) | peak RSS (MB) | "
        "traced (MB) | traced peak (MB) | reconnect (s) | refusals during reconnect | "
        "reloads on reconnect | is_revoked hit / miss (µs) | revocations acked/s | in Redis/s |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for label, r in rows:
        lines.append(
            f"| {label} | {r['entries']:,} | {r['cold_start_s']:.2f} | "
            f"{r['rss_after_mb'] - r['rss_before_mb']:.1f} | {r['rss_peak_mb']:.1f} | "
            f"{r['traced_mb']:.1f} | {r['traced_peak_mb']:.1f} | {r['reconnect_s']:.3f} | "
            f"{r['reconnect_refusals']} | {r['reconnect_full_loads']} | "
            f"{r['is_revoked_hit_us']:.2f} / {r['is_revoked_miss_us']:.2f} | "
            f"{r['writes_acked_per_s']:,.0f} | {r['writes_in_redis_per_s']:,.0f} |"
        )
    day = rows[-1][1]
    p50, p99 = statistics.median(latencies), _p(latencies, 0.99)
    growth = day["rss_after_mb"] - day["rss_before_mb"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "**NOT met**"

    lines += [
        "",
        f"Propagation (a revocation on one instance until another refuses it, "
        f"{len(latencies)} samples): p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"max {max(latencies):.1f} ms.",
        "",
        "Targets (issue 11), for the simulated day:",
        f"- RSS for the revocation list <= {TARGET_RSS_MB} MB per process: +{growth:.1f} MB "
        f"(peak RSS of the whole process {day['rss_peak_mb']:.1f} MB): "
        f"{verdict(growth <= TARGET_RSS_MB)}",
        f"- ready within {TARGET_READY_S:g} s of a cold start: {day['cold_start_s']:.2f} s: "
        f"{verdict(day['cold_start_s'] <= TARGET_READY_S)}",
        f"- a reconnect costs no refusal (no 503): {day['reconnect_refusals']} refusals, "
        f"{day['reconnect_full_loads']} reloads: "
        f"{verdict(day['reconnect_refusals'] == 0 and day['reconnect_full_loads'] == 0)}",
        f"- seen by another instance within {TARGET_PROPAGATION_MS} ms p99: {p99:.1f} ms: "
        f"{verdict(p99 <= TARGET_PROPAGATION_MS)}",
        "- `is_revoked` is a local lookup (no network): "
        f"{day['is_revoked_hit_us']:.2f} µs hit, {day['is_revoked_miss_us']:.2f} µs miss; the "
        "session check's cost over bare Pyramid is the `redis` row of the main table above.",
        "",
    ]
    return "\n".join(lines)


def write_section(output: Path, section: str) -> None:
    """Replace (or add) the revocation section of ``output``, keeping everything else."""
    text = output.read_text() if output.exists() else ""
    if SECTION in text:
        before, _, rest = text.partition(SECTION)
        after = rest.split("\n## ", 1)
        tail = "\n## " + after[1] if len(after) > 1 else ""
        text = before + section + tail
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section
    output.write_text(text)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--child":
        url, prefix, journal, plan_name, mode = args[1:6]
        print(json.dumps(child(url, prefix, journal, plan_name, mode == "trace")))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny counts: prove it works")
    parser.add_argument("--output", type=Path, help="where to write (or update) the section")
    parsed = parser.parse_args(args)
    plan_name = "smoke" if parsed.smoke else "full"
    section = run(SMOKE if parsed.smoke else FULL, plan_name=plan_name)
    output = parsed.output or (
        Path(tempfile.mkdtemp(prefix="loginsite-bench-")) / "results.md"
        if parsed.smoke
        else RESULTS
    )
    write_section(output, section)
    print(section)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
