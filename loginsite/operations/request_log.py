"""The outermost tween: request metrics, and one access-log line per request.

The access-log line (logger ``loginsite.access``, switched by ``loginsite.access_log``) holds the
method, the path without its query string (the callback's carries the code and state), the
status, the duration, the request id and the ``sub`` when the request was signed in. The ``sub``
comes from the identity the session policy cached for this request, so a request that never
consulted the session (``/healthz``, static files) is not made to. Health checks are logged at
DEBUG, so a load balancer's probes do not flood the INFO log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from pyramid.tweens import INGRESS

from loginsite.operations.metrics import METRICS_KEY, SiteMetrics
from loginsite.settings import SETTINGS_KEY, RawSettings, operations_settings

access_log = logging.getLogger("loginsite.access")

#: Where the session policy caches the request's identity (``SessionSecurityPolicy``).
IDENTITY_KEY = "loginsite.session.identity"
HEALTH_PATHS = ("/healthz", "/readyz")
_MAX_LOGGED_PATH = 200


def logged_path(environ: dict[str, Any]) -> str:
    """The path as received, without the query, printable ASCII, truncated."""
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    if not (path.isascii() and path.isprintable()):
        path = "".join(c if " " < c < "\x7f" else "?" for c in path)
    return path[:_MAX_LOGGED_PATH]


def log_access(request: Any, status: int, seconds: float) -> None:
    if not access_log.isEnabledFor(logging.INFO):  # nothing would be written
        return
    environ = request.environ
    path = logged_path(environ)
    level = logging.DEBUG if path in HEALTH_PATHS else logging.INFO
    if level == logging.DEBUG and not access_log.isEnabledFor(level):
        return
    sub = getattr(environ.get(IDENTITY_KEY), "sub", None)
    method = environ.get("REQUEST_METHOD", "-")[:16]
    duration_ms = round(seconds * 1000, 3)
    access_log.log(
        level,
        "%s %s %d %.1fms sub=%s",
        method,
        path,
        status,
        duration_ms,
        sub or "-",
        extra={
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
            "sub": sub,
        },
    )


def request_tween_factory(handler: Callable, registry: Any) -> Callable:
    """Also usable on its own (``config.add_tween`` in an app that includes only the session
    policy): without the app's parsed settings it reads ``loginsite.access_log`` itself."""
    app_settings = registry.get(SETTINGS_KEY)
    if app_settings is not None:
        operations = app_settings.operations
    else:
        operations = operations_settings(RawSettings(registry.settings or {}))
    metrics: SiteMetrics | None = registry.get(METRICS_KEY)
    logging_on = operations.access_log
    clock = time.perf_counter

    def request_tween(request: Any) -> Any:
        start = clock()
        status = 500  # what the client sees if something below raises past every view
        try:
            response = handler(request)
            status = response.status_int
            return response
        finally:
            seconds = clock() - start
            if metrics is not None:
                metrics.observe_request(status, seconds)
            if logging_on:
                log_access(request, status, seconds)

    return request_tween


def includeme(config: Any) -> None:
    """Add it last (``main`` does): among the tweens under ``INGRESS`` without other constraints,
    the last added is the outermost, and the others keep their order."""
    config.add_tween("loginsite.operations.request_log.request_tween_factory", under=INGRESS)
