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
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
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


class SiteMetrics:
    """Every series the site exports, in one registry of its own."""

    def __init__(self, store: RevocationStore | None = None) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "loginsite_http_requests",
            "HTTP requests answered, by status class.",
            ["status_class"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "loginsite_http_request_duration_seconds",
            "Time to answer a request, in the app.",
            buckets=_REQUEST_BUCKETS,
            registry=registry,
        )
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
        # Bound once: the per-request path is a dict lookup and two increments.
        self.requests_by_class = {c: self.requests.labels(c) for c in STATUS_CLASSES}
        if store is not None:
            registry.register(RevocationCollector(store))
        ProcessCollector(registry=registry)

    def observe_request(self, status: int, seconds: float) -> None:
        child = self.requests_by_class.get(f"{status // 100}xx")
        if child is not None:
            child.inc()
        self.request_duration.observe(seconds)


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
