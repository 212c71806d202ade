"""Running the site: health and readiness, metrics, request logs, the audit trail and
production safety.

``main`` includes this first (start-up warnings, then the metrics every later part counts into)
and :mod:`.request_log` last, so its tween is added last and is the outermost: it times and logs
what the client gets from every tween below it, error pages included.
"""

from __future__ import annotations

import atexit
import logging
from typing import Any

from loginsite.operations.metrics import METRICS_KEY, MetricsListener, SiteMetrics
from loginsite.operations.production_checks import production_risks
from loginsite.settings import SettingsError, get_app_settings

log = logging.getLogger(__name__)

LISTENER_KEY = "loginsite.metrics_listener"


def start_metrics(config: Any) -> None:
    """Metrics exist only when ``loginsite.metrics.listen`` is set; the listener starts now."""
    settings = get_app_settings(config.registry)
    listen = settings.operations.metrics_listen
    if listen is None:
        return
    from loginsite.revocation import get_revocation_store

    config.include("loginsite.revocation")
    metrics = SiteMetrics(get_revocation_store(config.registry))
    host, port = listen
    try:
        listener = MetricsListener(metrics, host, port)
    except OSError as exc:
        raise SettingsError(
            "loginsite.metrics.listen", f"cannot listen on {host}:{port}: {exc.strerror}"
        ) from None
    config.registry[METRICS_KEY] = metrics
    config.registry[LISTENER_KEY] = listener
    atexit.register(listener.close)
    log.info("metrics.listening address=%s:%d", host, listener.port)


def warn_production_risks(config: Any) -> None:
    for risk in production_risks(get_app_settings(config.registry)):
        log.warning("production.risk %s", risk)


def includeme(config: Any) -> None:
    warn_production_risks(config)
    config.include("loginsite.operations.audit")  # the key ring in use, on the audit trail
    start_metrics(config)
    config.include("loginsite.operations.health")
