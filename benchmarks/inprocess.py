"""In-process cost: call each variant's WSGI app directly, in interleaved rounds.

Also home of the correctness checks every variant passes before it is timed (they run the same
way against an app in this process or a server over HTTP, through a :class:`Client`).
"""

from __future__ import annotations

import gc
import logging
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from webob import Request

from benchmarks.variants import ALL_VARIANTS, ANONYMOUS, USER_ID, Variant, WSGIApp, tamper

Headers = list[tuple[str, str]]
MAX_ATTEMPTS = 5


class Client(Protocol):
    def get(self, path: str, cookie: str | None = None) -> tuple[int, str, Headers]:
        """Status, body and headers of ``GET path`` sending ``Cookie: cookie``."""
        ...


class InProcessClient:
    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def get(self, path: str, cookie: str | None = None) -> tuple[int, str, Headers]:
        headers = {"Cookie": cookie} if cookie else {}
        response = Request.blank(path, headers=headers).get_response(self.app)
        return response.status_int, response.text, list(response.headerlist)


def set_cookies(headers: Headers) -> list[str]:
    return [value for name, value in headers if name.lower() == "set-cookie"]


def session_cookie(client: Client) -> str:
    """``name=value`` of the session cookie ``/login`` issues."""
    status, _, headers = client.get("/login")
    if status != 200:
        raise RuntimeError(f"/login answered {status}")
    for header in set_cookies(headers):
        pair = header.split(";", 1)[0].strip()
        name, _, value = pair.partition("=")
        if value and value != '""' and "Max-Age=0" not in header:
            return f"{name}={value}"
    raise RuntimeError("/login set no session cookie")


def tamper_cookie(cookie: str) -> str:
    name, _, value = cookie.partition("=")
    return f"{name}={tamper(value)}"


@dataclass
class CheckResult:
    """What the checks saw; ``None`` where a check does not apply (the bare apps)."""

    variant: str
    cookie_bytes: int = 0
    authenticated: bool | None = None
    tampered_refused: bool | None = None
    anonymous_without_cookie: bool | None = None
    revoked_refused: bool | None = None
    steady_state_set_cookie: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_variant(variant: Variant, client: Client, cookie: str) -> CheckResult:
    """Prove the variant authenticates ``cookie`` and refuses a tampered copy of it.

    ``cookie`` is the variant's own (from :func:`session_cookie`) or, for the bare control,
    the cookie it is sent. A revocable variant's ``cookie`` is revoked at the end: get a new one.
    """
    result = CheckResult(variant.name, cookie_bytes=len(cookie))
    expected = USER_ID if variant.authenticates else ANONYMOUS

    def whoami(sent: str | None) -> tuple[str, Headers]:
        status, body, headers = client.get("/whoami", sent)
        if status != 200:
            result.problems.append(f"/whoami answered {status}")
        return body, headers

    body, _ = whoami(None)
    result.anonymous_without_cookie = body == ANONYMOUS
    body, _ = whoami(cookie)  # the first request may verify, renew, etc.
    body, headers = whoami(cookie)  # steady state
    result.steady_state_set_cookie = bool(set_cookies(headers))
    if variant.authenticates:
        result.authenticated = body == USER_ID
        body, _ = whoami(tamper_cookie(cookie))
        result.tampered_refused = body == ANONYMOUS
    elif body != expected:
        result.problems.append(f"the bare app answered {body!r}")
    if variant.revocable:
        client.get("/revoke", cookie)
        body, _ = whoami(cookie)
        result.revoked_refused = body == ANONYMOUS
    for name in (
        "authenticated",
        "tampered_refused",
        "anonymous_without_cookie",
        "revoked_refused",
    ):
        if getattr(result, name) is False:
            result.problems.append(f"{name} failed")
    return result


def environ_for(cookie: str | None) -> dict[str, Any]:
    headers = {"Cookie": cookie} if cookie else {}
    return Request.blank("/whoami", headers=headers).environ


def _start_response(status: str, headers: Headers, exc_info: Any = None) -> None:
    if status[:3] != "200":
        raise RuntimeError(f"/whoami answered {status}")


def time_app(app: WSGIApp, environ: dict[str, Any], n: int) -> float:
    """Seconds per request over ``n`` calls of ``app`` (a fresh environ copy each)."""
    start = time.perf_counter()
    for _ in range(n):
        for _chunk in app(dict(environ), _start_response):
            pass
    return (time.perf_counter() - start) / n


class RefusalCounter(logging.Handler):
    """Counts the policy's warnings (a session refused because the revocation list is
    unavailable: the redis store fails closed while its sync is broken), without printing them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self._logger = logging.getLogger("loginsite.session.policy")

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1

    def __enter__(self) -> RefusalCounter:
        self._propagate = self._logger.propagate
        self._logger.addHandler(self)
        self._logger.propagate = False
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.propagate = self._propagate


def _wait_for_sync(app: WSGIApp) -> None:
    store = app.registry.get("loginsite.revocation_store")
    wait = getattr(store, "wait_until_synced", None)
    if wait is not None:
        wait(10.0)


@dataclass
class InProcessResult:
    rounds: int
    requests: int
    #: variant -> seconds per request, one per round
    samples: dict[str, list[float]]
    #: variants whose steady-state response (after a round) carried a Set-Cookie
    set_cookie: set[str] = field(default_factory=set)
    #: rounds timed again because requests were refused during them (redis sync broken)
    retried: dict[str, int] = field(default_factory=dict)

    def median_us(self, name: str) -> float:
        return statistics.median(self.samples[name]) * 1e6

    def over_floor_us(self, name: str, floor: str = "bare") -> float:
        """Median over rounds of (variant - floor) in the same round."""
        pairs = zip(self.samples[name], self.samples[floor], strict=True)
        return statistics.median(a - b for a, b in pairs) * 1e6

    def spread_us(self, name: str, floor: str = "bare") -> tuple[float, float]:
        diffs = sorted(
            (a - b) * 1e6 for a, b in zip(self.samples[name], self.samples[floor], strict=True)
        )
        if len(diffs) < 4:
            return diffs[0], diffs[-1]
        q = statistics.quantiles(diffs, n=4)
        return q[0], q[2]


def run_inprocess(
    apps: dict[str, WSGIApp],
    cookie_for: Callable[[str], str | None],
    *,
    rounds: int,
    requests: int,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> InProcessResult:
    """Interleaved rounds: every round times every variant, in a shuffled order.

    ``cookie_for(name)`` returns a fresh session cookie for that variant (``None``: none).
    """
    names: Sequence[str] = list(apps)
    samples: dict[str, list[float]] = {name: [] for name in names}
    set_cookie: set[str] = set()
    retried: dict[str, int] = {}
    rng = random.Random(seed)
    warmup = max(5, requests // 10)
    for round_no in range(rounds):
        order = list(names)
        rng.shuffle(order)
        for name in order:
            app = apps[name]
            expected = USER_ID if ALL_VARIANTS[name].authenticates else ANONYMOUS
            for attempt in range(MAX_ATTEMPTS):
                if attempt:
                    retried[name] = retried.get(name, 0) + 1
                    _wait_for_sync(app)
                environ = environ_for(cookie_for(name))
                with RefusalCounter() as refusals:
                    time_app(app, environ, warmup)
                    gc.collect()
                    sample = time_app(app, environ, requests)
                    cookie = environ.get("HTTP_COOKIE")
                    _, body, headers = InProcessClient(app).get("/whoami", cookie)
                if body == expected and not refusals.count:
                    break
            else:
                raise RuntimeError(f"{name}: answered {body!r} during the run, not {expected!r}")
            samples[name].append(sample)
            if set_cookies(headers):
                set_cookie.add(name)
        progress(f"in-process round {round_no + 1}/{rounds}")
    return InProcessResult(
        rounds=rounds, requests=requests, samples=samples, set_cookie=set_cookie, retried=retried
    )
