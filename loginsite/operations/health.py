"""``GET /healthz`` and ``GET /readyz``, for load balancers and orchestrators.

``/healthz`` answers 200 as long as the process serves requests. ``/readyz`` answers 200 only
when this instance can serve signed-in users: its settings loaded (they were, or the app would
not exist), its revocation list synced within ``max_staleness`` (``store.status().ready``), and
revocations made here written to the shared store or on their way (nothing pending while out of
contact). Otherwise 503, with the reasons in a small JSON body.

The provider's state is in the body, never in the status: signed-in users keep working while
login.gov is down, and pulling every instance out of the load balancer because of it would take
the whole site down. Neither endpoint consults the session or sets a cookie, and the access log
records them at DEBUG only.
"""

from __future__ import annotations

from typing import Any

from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED

from loginsite.oidc.metadata import CacheState
from loginsite.revocation import get_revocation_store


def healthz(request: Any) -> Response:
    return Response(json_body={"status": "ok"})


def _cache_state(state: CacheState) -> dict[str, Any]:
    age = None if state.age is None else round(state.age, 1)
    return {"state": state.state, "age": age, "failing": state.failing}


def provider_state(request: Any) -> dict[str, Any] | None:
    """What the provider caches hold; None where the sign-in flow is not included."""
    from loginsite.auth.views import FLOW_KEY

    flow = request.registry.get(FLOW_KEY)
    if flow is None:
        return None
    client = flow.client
    return {
        "discovery": _cache_state(client.metadata.state()),
        "jwks": _cache_state(client.jwks.state()),
    }


def readiness(request: Any) -> tuple[bool, dict[str, Any]]:
    status = get_revocation_store(request.registry).status()
    problems = []
    if not status.ready:
        problems.append("revocation list not synced within max_staleness")
    if status.pending_writes and not status.synced:
        problems.append("revocations made here are waiting for the shared store")
    body = {
        "ready": not problems,
        "problems": problems,
        "settings": "loaded",
        "revocation": status.as_dict(),
        "provider": provider_state(request),
    }
    return not problems, body


def readyz(request: Any) -> Response:
    ready, body = readiness(request)
    return Response(status=200 if ready else 503, json_body=body)


def includeme(config: Any) -> None:
    for name, view in (("healthz", healthz), ("readyz", readyz)):
        config.add_route(name, f"/{name}")
        config.add_view(
            view,
            route_name=name,
            request_method=("GET", "HEAD"),
            permission=NO_PERMISSION_REQUIRED,
            require_csrf=False,
        )
