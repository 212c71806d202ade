"""``python -m benchmarks.run [--smoke] [--output PATH]``: the whole benchmark, interleaved.

1. Start redis-server on a free loopback port (installing redis-server and wrk if missing).
2. Build every variant in this process, prove each one authenticates its cookie and refuses a
   tampered one (loginsite's also a revoked one), count its Redis commands per request.
3. In-process rounds (µs per request), then the same apps under waitress + wrk, pinned.
4. The CPU cost of completing a sign-in against the development provider.
5. Write the markdown table (``benchmarks/results.md``; ``--smoke``: a temporary file) and print it.

``--smoke`` runs tiny counts: it proves everything still works and measures nothing worth reading.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import redis

from benchmarks import http as bench_http
from benchmarks.inprocess import (
    CheckResult,
    InProcessClient,
    InProcessResult,
    check_variant,
    environ_for,
    run_inprocess,
    session_cookie,
    set_cookies,
    time_app,
)
from benchmarks.variants import (
    ALL_VARIANTS,
    ANONYMOUS,
    OPERATIONS_VARIANTS,
    USER_ID,
    VARIANTS,
    BenchConfig,
    build,
)
from localservers.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results.md"

#: loginsite's targets (issue): over the floor in-process, share of bare throughput, cookie size.
TARGET_OVER_FLOOR_US = 25.0
TARGET_HTTP_RATIO = 0.90
TARGET_COOKIE_BYTES = 400


@dataclass(frozen=True)
class Plan:
    inprocess_rounds: int
    inprocess_requests: int
    http_rounds: int
    http_duration: int
    http_warmup: int
    signins: int


FULL = Plan(
    inprocess_rounds=21,
    inprocess_requests=2000,
    http_rounds=9,
    http_duration=5,
    http_warmup=2,
    signins=200,
)
SMOKE = Plan(
    inprocess_rounds=2,
    inprocess_requests=20,
    http_rounds=1,
    http_duration=1,
    http_warmup=0,
    signins=3,
)


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ensure_system_deps() -> None:
    if shutil.which("redis-server") and shutil.which("wrk"):
        return
    say("redis-server or wrk is missing: running scripts/install-system-deps")
    subprocess.run(["bash", str(ROOT / "scripts" / "install-system-deps")], check=True)
    if not (shutil.which("redis-server") and shutil.which("wrk")):
        raise SystemExit("redis-server and wrk are required (apt-get install redis-server wrk)")


def wants_cookie(name: str) -> bool:
    variant = VARIANTS[name]
    return variant.authenticates or variant.cookie_from is not None


def redis_commands_per_request(app, cookie: str | None, url: str, n: int) -> float:
    """Commands the Redis server processed per request (the background sync's pings are noise)."""
    client = redis.Redis.from_url(url)
    try:

        def total() -> int:
            return int(client.info("stats")["total_commands_processed"])

        before = total()
        time_app(app, environ_for(cookie), n)
        # INFO itself is one command.
        return max(0, total() - before - 1) / n
    finally:
        client.close()


def run(plan: Plan, output: Path, *, smoke: bool) -> str:
    started = time.monotonic()
    ensure_system_deps()
    pin = bench_http.can_pin()
    with RedisServer() as redis_server:
        cfg = BenchConfig(redis_url=redis_server.url)
        say(f"redis-server on port {redis_server.port}; building {len(VARIANTS)} variants")
        apps = {name: build(name, cfg) for name in VARIANTS}
        clients = {name: InProcessClient(app) for name, app in apps.items()}

        def cookie_for(name: str) -> str | None:
            if not wants_cookie(name):
                return None
            return session_cookie(clients[VARIANTS[name].cookie_from or name])

        checks: dict[str, CheckResult] = {}
        redis_cmds: dict[str, float] = {}
        for name, variant in VARIANTS.items():
            for _ in range(3):  # the redis revocation store fails closed while (re)syncing
                checks[name] = check_variant(variant, clients[name], cookie_for(name) or "")
                if checks[name].ok:
                    break
                store = apps[name].registry.get("loginsite.revocation_store")
                if hasattr(store, "wait_until_synced"):
                    store.wait_until_synced(10.0)
            redis_cmds[name] = redis_commands_per_request(
                apps[name], cookie_for(name), redis_server.url, 50 if smoke else 500
            )
        failed = {name: c.problems for name, c in checks.items() if not c.ok}
        if failed:
            raise SystemExit(f"variants failed their checks, nothing timed: {failed}")
        say("every variant authenticates and refuses a tampered cookie; timing in-process")
        inprocess = run_inprocess(
            apps,
            cookie_for,
            rounds=plan.inprocess_rounds,
            requests=plan.inprocess_requests,
            progress=say,
        )

        say(f"starting {len(VARIANTS)} waitress servers (pinned: {pin})")
        servers = {name: bench_http.Server(name, cfg, pin=pin) for name in VARIANTS}
        try:
            for server in servers.values():
                server.wait_ready()

            def http_cookie_for(name: str) -> str | None:
                if not wants_cookie(name):
                    return None
                return session_cookie(servers[VARIANTS[name].cookie_from or name].client)

            http_checks: dict[str, CheckResult] = {}
            for name, variant in VARIANTS.items():
                for attempt in range(3):
                    # A server whose redis revocation sync is (re)connecting answers anonymous
                    # (fail closed) for a moment; give it a second before calling it broken.
                    if attempt:
                        say(f"{name}: {http_checks[name].problems}; checking again")
                        time.sleep(1.0)
                    http_checks[name] = check_variant(
                        variant, servers[name].client, http_cookie_for(name) or ""
                    )
                    if http_checks[name].ok:
                        break
            failed = {name: c.problems for name, c in http_checks.items() if not c.ok}
            if failed:
                raise SystemExit(f"variants failed their checks over HTTP: {failed}")
            http_set_cookie: set[str] = set()
            wrong_after_round: dict[str, int] = {}

            def check_body(name: str, cookie: str | None) -> None:
                status, body, headers = servers[name].client.get("/whoami", cookie)
                expected = USER_ID if VARIANTS[name].authenticates else ANONYMOUS
                if status != 200 or body != expected:
                    # Reported, not fatal: the redis revocation store fails closed (anonymous)
                    # while its sync with Redis is broken, and that is worth showing.
                    say(f"{name} answered {status} {body!r} after a round")
                    wrong_after_round[name] = wrong_after_round.get(name, 0) + 1
                if set_cookies(headers):
                    http_set_cookie.add(name)

            say("timing over HTTP")
            http_result = bench_http.run_http(
                servers,
                http_cookie_for,
                check_body,
                rounds=plan.http_rounds,
                duration=plan.http_duration,
                warmup=plan.http_warmup,
                pin=pin,
                progress=say,
            )
        finally:
            for server in servers.values():
                server.stop()

    http_result.wrong_after_round = wrong_after_round
    signin = None
    try:
        from benchmarks.signin import measure_signin

        say("timing sign-in callbacks against the development provider")
        signin = measure_signin(plan.signins)
    except Exception as exc:  # the sign-in part is reported, never fatal to the table
        say(f"sign-in benchmark unavailable: {type(exc).__name__}: {exc}")
        signin = exc

    elapsed = time.monotonic() - started
    table = render(
        plan,
        checks,
        http_checks,
        redis_cmds,
        inprocess,
        http_result,
        http_set_cookie,
        signin,
        elapsed=elapsed,
        smoke=smoke,
    )
    output.write_text(table)
    say(f"done in {elapsed:.0f} s; written to {output}")
    return table


def _versions() -> str:
    names = ["pyramid", "WebOb", "PyJWT", "waitress", "redis", "pyramid_session_redis"]
    parts = [f"Python {platform.python_version()}"]
    for name in names:
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} (missing)")
    for tool, flag in (("redis-server", "--version"), ("wrk", "--version")):
        try:
            out = subprocess.run([tool, flag], capture_output=True, text=True, timeout=5)
            text = (out.stdout or out.stderr).split("\n")[0]
            parts.append(" ".join(text.split()[:3]))
        except OSError:
            parts.append(f"{tool} (missing)")
    return ", ".join(parts)


def _machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}"


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _yes(value: bool | None) -> str:
    return "n/a" if value is None else ("yes" if value else "**NO**")


def render(
    plan: Plan,
    checks: dict[str, CheckResult],
    http_checks: dict[str, CheckResult],
    redis_cmds: dict[str, float],
    inprocess: InProcessResult,
    http_result: bench_http.HTTPResult,
    http_set_cookie: set[str],
    signin: object,
    *,
    elapsed: float,
    smoke: bool,
) -> str:
    lines = ["# Session benchmark results", ""]
    if smoke:
        lines += ["**Smoke run: tiny counts; these numbers mean nothing.**", ""]
    lines += [
        f"- Run: {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}, "
        f"{elapsed:.0f} s in all",
        f"- Machine: {_machine()}",
        f"- Versions: {_versions()}",
        f"- In-process: {inprocess.rounds} interleaved rounds x {inprocess.requests} requests "
        "per variant; the WSGI app called directly; median over rounds.",
        f"- HTTP: waitress ({bench_http.SERVER_THREADS} threads) "
        + ("pinned `taskset -c 1`" if http_result.pinned else "**not pinned**")
        + ", `wrk -t1 "
        + f"-c{bench_http.CONNECTIONS}` keep-alive"
        + (" pinned `taskset -c 0`" if http_result.pinned else "")
        + f", {http_result.rounds} interleaved rounds x {http_result.duration} s per variant; "
        "median over rounds. redis-server is not pinned.",
        "",
        "## Cost per request",
        "",
        "| Variant | in-process µs/req | over floor µs (IQR) | HTTP req/s | x bare | p50 ms "
        "| p99 ms | server CPU µs/req | Redis cmds/req | Set-Cookie in steady state |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|:-:|",
    ]

    def invalid(name: str) -> str:
        return " (invalid †)" if http_result.refused.get(name) else ""

    for name, variant in VARIANTS.items():
        low, high = inprocess.spread_us(name)
        set_cookie = name in inprocess.set_cookie or name in http_set_cookie
        lines.append(
            f"| {variant.label} | {inprocess.median_us(name):.1f} "
            f"| {inprocess.over_floor_us(name):+.1f} ({low:+.1f} to {high:+.1f}) "
            f"| {http_result.rps(name):,.0f}{invalid(name)} | {http_result.ratio(name):.2f} "
            f"| {http_result.p50_ms(name):.2f} | {http_result.p99_ms(name):.2f} "
            f"| {_us(http_result.cpu_us(name))} "
            f"| {redis_cmds[name]:.2f} | {'yes' if set_cookie else 'no'} |"
        )
    if any(http_result.refused.values()):
        lines += [
            "",
            "† This server refused sessions while timed (its redis revocation sync broke and it "
            "failed closed: anonymous answers are cheaper), so its HTTP numbers are not valid; "
            "see the checks table.",
        ]
    lines += [
        "",
        "## Checks (made before timing, in-process and over HTTP)",
        "",
        "| Variant | cookie bytes (name=value) | authenticates | refuses tampered | "
        "refuses revoked | HTTP errors | HTTP requests refused (fail-closed) "
        "| revocation sync breaks (HTTP) | in-process rounds retimed |",
        "|---|--:|:-:|:-:|:-:|--:|--:|--:|--:|",
    ]
    for name, variant in VARIANTS.items():
        c, h = checks[name], http_checks[name]
        both = lambda a, b: None if a is None else bool(a and b)  # noqa: E731
        lines.append(
            f"| {variant.label} | {c.cookie_bytes or '-'} "
            f"| {_yes(both(c.authenticated, h.authenticated))} "
            f"| {_yes(both(c.tampered_refused, h.tampered_refused))} "
            f"| {_yes(both(c.revoked_refused, h.revoked_refused))} "
            f"| {http_result.errors(name)} | {http_result.refused.get(name, 0):,} "
            f"| {http_result.sync_breaks.get(name, 0)} | {inprocess.retried.get(name, 0)} |"
        )
    lines += ["", "## Sign-in", ""]
    if isinstance(signin, Exception) or signin is None:
        lines.append(f"Not measured: {type(signin).__name__}: {signin}")
    else:
        lines += signin.markdown()  # type: ignore[attr-defined]
    name = "loginsite_memory"
    over = inprocess.over_floor_us(name)
    ratio = http_result.ratio(name)
    redis_ratio = http_result.ratio("loginsite_redis")
    size = checks[name].cookie_bytes
    verdict = lambda ok: "met" if ok else "**missed**"  # noqa: E731
    lines += [
        "",
        "## loginsite against its targets",
        "",
        f"- In-process cost over the floor <= {TARGET_OVER_FLOOR_US:.0f} µs: "
        f"{over:+.1f} µs (`memory`), {inprocess.over_floor_us('loginsite_redis'):+.1f} µs "
        f"(`redis`): {verdict(max(over, inprocess.over_floor_us('loginsite_redis')) <= 25)}",
        f"- HTTP throughput >= {TARGET_HTTP_RATIO:.2f}x bare: {ratio:.2f}x (`memory`), "
        f"{redis_ratio:.2f}x (`redis`); the cookie-bytes control: "
        f"{http_result.ratio('bare_cookie'):.2f}x: {verdict(min(ratio, redis_ratio) >= 0.90)}",
        f"- No network round trip on a steady-state request: "
        f"{redis_cmds['loginsite_redis']:.2f} Redis commands per request (`redis` store): "
        f"{verdict(redis_cmds['loginsite_redis'] < 0.05)}",
        "- No Set-Cookie on a steady-state request: "
        + verdict(
            not ({"loginsite_memory", "loginsite_redis"} & (inprocess.set_cookie | http_set_cookie))
        ),
        f"- Session cookie <= {TARGET_COOKIE_BYTES} bytes (36-char UUID sub, "
        f"{len('alice.johnson@agency-example.gov')}-char email): {size} bytes: "
        f"{verdict(size <= TARGET_COOKIE_BYTES)}",
        f"- The verified-token cache: {inprocess.over_floor_us('loginsite_nocache'):+.1f} µs "
        f"without it, {over:+.1f} µs with it.",
        "",
    ]
    return "\n".join(lines)


def run_inprocess_only(plan: Plan) -> str:
    """The in-process rounds alone, for the floor, loginsite as shipped and the site's request
    tween (metrics, then the access log too): what metrics and the access log cost a request."""
    names = ["bare", "loginsite_memory", *OPERATIONS_VARIANTS]
    cfg = BenchConfig()
    apps = {name: build(name, cfg) for name in names}
    clients = {name: InProcessClient(app) for name, app in apps.items()}

    def cookie_for(name: str) -> str | None:
        if not ALL_VARIANTS[name].authenticates:
            return None
        return session_cookie(clients[name])

    for name in names:
        check = check_variant(ALL_VARIANTS[name], clients[name], cookie_for(name) or "")
        if not check.ok:
            raise SystemExit(f"{name} failed its checks, nothing timed: {check.problems}")
    result = run_inprocess(
        apps,
        cookie_for,
        rounds=plan.inprocess_rounds,
        requests=plan.inprocess_requests,
        progress=say,
    )
    lines = [
        f"In-process: {result.rounds} interleaved rounds x {result.requests} requests",
        "",
        "| variant | median µs/request | over bare (spread) |",
        "|---|---:|---:|",
    ]
    for name in names:
        low, high = result.spread_us(name)
        lines.append(
            f"| {ALL_VARIANTS[name].label} | {result.median_us(name):.1f} "
            f"| {result.over_floor_us(name):+.1f} ({low:+.1f} to {high:+.1f}) |"
        )
    metrics = result.over_floor_us("loginsite_metrics")
    tween = result.median_us("loginsite_metrics") - result.median_us("loginsite_memory")
    access = result.median_us("loginsite_access_log") - result.median_us("loginsite_metrics")
    lines += [
        "",
        f"- loginsite with metrics on: {metrics:+.1f} µs over bare Pyramid (target: within +5), "
        f"of which the request tween and its series {tween:+.1f} µs.",
        f"- The access log (one JSON line per request): {access:+.1f} µs per request.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny counts: prove it works")
    parser.add_argument("--output", type=Path, help="where to write the markdown table")
    parser.add_argument(
        "--inprocess-only",
        action="store_true",
        help="only the in-process timings, printed (results.md is left alone)",
    )
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else FULL
    if args.inprocess_only:
        print(run_inprocess_only(plan))
        return 0
    if args.output is not None:
        output = args.output
    elif args.smoke:
        output = Path(tempfile.mkdtemp(prefix="loginsite-bench-")) / "results.md"
    else:
        output = RESULTS
    print(run(plan, output, smoke=args.smoke))
    return 0


if __name__ == "__main__":
    sys.exit(main())
