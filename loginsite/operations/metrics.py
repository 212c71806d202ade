"""Prometheus series for operators, served on a listener of their own.

``loginsite.metrics.listen`` (e.g. ``127.0.0.1:9464``) starts a small HTTP server on its own
thread, apart from the public site: nothing the site serves links to it, and a proxy in front of
the site never sees it. Each app has its own registry, so two apps in one process (tests) never
mix counts. Label values are drawn from fixed sets (status classes, outcomes, reasons written in
the code, endpoint names): never a ``sub``, an email or a path, so the series stay few.

Counts are made through the ``count_*`` functions, one line beside the log line that already
says the same thing; they do nothing when metrics are off. The revocation store's state is read
at scrape time (:class:`RevocationCollector`), so nothing runs between scrapes.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import start_http_server
from prometheus_client.process_collector import ProcessCollector

if TYPE_CHECKING:
    from loginsite.revocation import RevocationStore

METRICS_KEY = "loginsite.metrics"
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
_REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_PROVIDER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
_NOT_A_LABEL = re.compile(r"[^a-z0-9]+")
_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def reason_label(reason: str) -> str:
    """A log reason as a label value: ``"revocation list unavailable (ConnectionError)"`` ->
    ``revocation_list_unavailable``. Reasons are written in the code, so the set is fixed; the
    cut at 48 characters bounds anything unexpected."""
    head = _WORD_START.sub("_", reason.split(" (", 1)[0]).lower()  # ProviderTimeout too
    return _NOT_A_LABEL.sub("_", head).strip("_")[:48] or "unknown"


class RevocationCollector:
    """The revocation store's ``status()``, read at scrape time."""

    def __init__(self, store: RevocationStore) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        status_of = getattr(self._store, "status", None)
        if status_of is None:
            return
        status = status_of()
        yield _gauge(
            "loginsite_revocation_entries", "Live entries in this instance's list.", status.entries
        )
        yield _gauge(
            "loginsite_revocation_staleness_seconds",
            "Seconds since the list was last known current (+Inf: never synced).",
            status.staleness,
        )
        yield _gauge(
            "loginsite_revocation_pending_writes",
            "Revocations made here that have not reached the shared store yet.",
            status.pending_writes,
        )
        yield _gauge(
            "loginsite_revocation_journal_depth",
            "Revocations waiting in the local journal.",
            status.journal_depth,
        )
        yield _gauge("loginsite_revocation_synced", "1 while the list is in sync.", status.synced)
        yield _gauge("loginsite_revocation_ready", "1 while sessions can be checked.", status.ready)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


class _ThreadTally:
    """One serving thread's request counts: only that thread writes them."""

    __slots__ = ("buckets", "by_class", "seconds")

    def __init__(self, buckets: int) -> None:
        self.by_class = [0] * 6  # index: status // 100
        self.buckets = [0] * buckets  # index: the first bound >= the duration (last: +Inf)
        self.seconds = 0.0


class RequestStats:
    """Requests by status class and their duration histogram, counted on every request.

    prometheus_client's ``Counter.inc`` and ``Histogram.observe`` take a lock per value (about
    3.5 µs a request for both). Here each serving thread adds to tallies of its own, without a
    lock and without losing an increment to another thread, and a scrape sums them: about
    0.3 µs. A tally outlives its thread, so the counts never go down.
    """

    def __init__(self, bounds: tuple[float, ...] = _REQUEST_BUCKETS) -> None:
        self._bounds = bounds
        self._local = threading.local()
        self._tallies: list[_ThreadTally] = []
        self._lock = threading.Lock()  # only to add a new thread's tally

    def _tally(self) -> _ThreadTally:
        tally = _ThreadTally(len(self._bounds) + 1)
        with self._lock:
            self._tallies.append(tally)
        self._local.tally = tally
        return tally

    def observe(self, status: int, seconds: float) -> None:
        try:
            tally = self._local.tally
        except AttributeError:
            tally = self._tally()
        status_class = status // 100
        if 1 <= status_class <= 5:
            tally.by_class[status_class] += 1
        tally.buckets[bisect_left(self._bounds, seconds)] += 1
        tally.seconds += seconds

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            tallies = list(self._tallies)
        by_class = [sum(t.by_class[i] for t in tallies) for i in range(6)]
        buckets = [sum(t.buckets[i] for t in tallies) for i in range(len(self._bounds) + 1)]
        requests = CounterMetricFamily(
            "loginsite_http_requests",
            "HTTP requests answered, by status class.",
            labels=["status_class"],
        )
        for index, status_class in enumerate(STATUS_CLASSES, start=1):
            requests.add_metric([status_class], by_class[index])
        yield requests
        cumulative = list(accumulate(buckets))
        points = [
            (repr(bound) if bound != int(bound) else f"{bound:.1f}", count)
            for bound, count in zip(self._bounds, cumulative, strict=False)
        ]
        duration = HistogramMetricFamily(
            "loginsite_http_request_duration_seconds",
            "Time to answer a request, in the app.",
            buckets=[*points, ("+Inf", cumulative[-1])],
            sum_value=sum(t.seconds for t in tallies),
        )
        yield duration


class SiteMetrics:
    """Every series the site exports, in one registry of its own."""

    def __init__(self, store: RevocationStore | None = None) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests = RequestStats()
        registry.register(self.requests)
        self.sign_ins = Counter(
            "loginsite_sign_ins",
            "Completed sign-in attempts, by outcome (success, failure, refused) and reason.",
            ["outcome", "reason"],
            registry=registry,
        )
        self.sign_outs = Counter(
            "loginsite_sign_outs",
            "Sign-outs of a session, by scope (session, everywhere) and what was recorded.",
            ["scope", "outcome"],
            registry=registry,
        )
        self.session_refusals = Counter(
            "loginsite_session_refusals",
            "Presented session cookies that were not accepted, by reason.",
            ["reason"],
            registry=registry,
        )
        self.provider_duration = Histogram(
            "loginsite_provider_request_duration_seconds",
            "Time of each request to the identity provider, by endpoint.",
            ["endpoint"],
            buckets=_PROVIDER_BUCKETS,
            registry=registry,
        )
        self.provider_errors = Counter(
            "loginsite_provider_errors",
            "Requests to the identity provider that failed, by endpoint and kind.",
            ["endpoint", "kind"],
            registry=registry,
        )
        if store is not None:
            registry.register(RevocationCollector(store))
        ProcessCollector(registry=registry)

    def observe_request(self, status: int, seconds: float) -> None:
        self.requests.observe(status, seconds)


class MetricsListener:
    """The metrics HTTP server (prometheus_client's, silent per scrape) on its own thread."""

    def __init__(self, metrics: SiteMetrics, host: str, port: int) -> None:
        self.server, self._thread = start_http_server(port, addr=host, registry=metrics.registry)
        self.port: int = self.server.server_port

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _metrics(request: Any) -> SiteMetrics | None:
    registry = getattr(request, "registry", None)  # a bare Request in a test has none
    return None if registry is None else registry.get(METRICS_KEY)


def count_sign_in(request: Any, outcome: str, reason: str = "ok") -> None:
    """A sign-in attempt ended: ``success``, ``failure`` (provider or token) or ``refused``."""
    if (metrics := _metrics(request)) is not None:
        metrics.sign_ins.labels(outcome, reason_label(reason)).inc()


def count_sign_out(request: Any, everywhere: bool, outcome: str) -> None:
    """A sign-out was asked for; ``outcome`` says what was recorded (``no_session``: nothing
    to sign out, not counted)."""
    if outcome == "no_session":
        return
    if (metrics := _metrics(request)) is not None:
        metrics.sign_outs.labels("everywhere" if everywhere else "session", outcome).inc()


def count_session_refusal(request: Any, reason: str) -> None:
    if (metrics := _metrics(request)) is not None:
        metrics.session_refusals.labels(reason_label(reason)).inc()
