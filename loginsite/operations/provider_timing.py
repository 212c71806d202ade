"""Time every request to the identity provider, by endpoint, and count the ones that fail.

``loginsite.oidc`` stays free of metrics code: when metrics are on, the sign-in flow hands the
client a :class:`TimedProviderSession` (the one it fetches discovery and JWKS with) and wraps
its transport (the one each sign-in step's session mounts) in a :class:`TimedTransport`. The
endpoint label is one of ``discovery``, ``jwks``, ``token``,
``userinfo`` or ``other``, matched against the provider's last good discovery document.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import BaseAdapter

from loginsite.operations.metrics import METRICS_KEY, SiteMetrics

if TYPE_CHECKING:
    from loginsite.oidc import OIDCClient

_ENDPOINT_FIELDS = (
    ("jwks_uri", "jwks"),
    ("token_endpoint", "token"),
    ("userinfo_endpoint", "userinfo"),
)


class ProviderTimer:
    """Times one exchange and counts its failure, for one app's metrics."""

    def __init__(self, metrics: SiteMetrics, endpoint_of: Callable[[str], str]) -> None:
        self._metrics = metrics
        self._endpoint_of = endpoint_of

    def timed(self, url: str | bytes | None, send: Callable[[], requests.Response]) -> Any:
        endpoint = self._endpoint_of(url.decode() if isinstance(url, bytes) else url or "")
        start = time.perf_counter()
        try:
            response = send()
        except requests.Timeout:
            self._failed(endpoint, "timeout")
            raise
        except requests.ConnectionError:
            self._failed(endpoint, "connection")
            raise
        except requests.RequestException:
            self._failed(endpoint, "other")
            raise
        finally:
            self._metrics.provider_duration.labels(endpoint).observe(time.perf_counter() - start)
        if response.status_code >= 400:
            self._failed(endpoint, f"http_{response.status_code // 100}xx")
        return response

    def _failed(self, endpoint: str, kind: str) -> None:
        self._metrics.provider_errors.labels(endpoint, kind).inc()


class TimedProviderSession(requests.Session):
    """The session discovery and JWKS fetches go through."""

    def __init__(self, timer: ProviderTimer) -> None:
        super().__init__()
        self._timer = timer

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        return self._timer.timed(
            url, lambda: super(TimedProviderSession, self).request(method, url, *args, **kwargs)
        )


class TimedTransport(BaseAdapter):
    """Wraps the client's transport, which each sign-in step's session mounts (token,
    userinfo): the time covers the whole exchange, body included."""

    def __init__(self, inner: BaseAdapter, timer: ProviderTimer) -> None:
        super().__init__()
        self.inner = inner
        self._timer = timer

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        return self._timer.timed(request.url, lambda: self.inner.send(request, *args, **kwargs))

    def close(self) -> None:
        self.inner.close()


def endpoint_name(registry: Any, url: str) -> str:
    from loginsite.auth.views import FLOW_KEY

    flow = registry.get(FLOW_KEY)
    if flow is None:
        return "other"
    cache = flow.client.metadata
    if url == cache.url:
        return "discovery"
    metadata = cache.current
    if metadata is not None:
        for field, name in _ENDPOINT_FIELDS:
            if url == getattr(metadata, field):
                return name
    return "other"


def provider_timer(registry: Any) -> ProviderTimer | None:
    metrics: SiteMetrics | None = registry.get(METRICS_KEY)
    if metrics is None:
        return None
    return ProviderTimer(metrics, lambda url: endpoint_name(registry, url))


def timed_client(client: OIDCClient, timer: ProviderTimer | None) -> OIDCClient:
    """``client`` with its sign-in steps' transport timed (``None``: metrics are off)."""
    if timer is not None:
        client.transport = TimedTransport(client.transport, timer)  # type: ignore[assignment]
    return client


def provider_session(timer: ProviderTimer | None) -> requests.Session | None:
    """The session the OIDC client fetches discovery and JWKS through: timed when metrics
    are on, else the client's own."""
    return None if timer is None else TimedProviderSession(timer)
