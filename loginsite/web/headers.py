"""Browser-facing defences, set on every response in one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from loginsite.session.response_plan import session_consulted
from loginsite.settings import get_app_settings

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self' {form_action}; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


def may_be_cached(request: Any, response: Any) -> bool:
    """Only a static file may be stored by a cache: not a page, not an error page under
    /static/, nothing that consulted the session (it may show who is signed in)."""
    return (
        request.environ.get("PATH_INFO", "").startswith("/static/")  # raw: may not be UTF-8
        and response.status_int < 400
        and not session_consulted(request)
    )


def security_headers_tween_factory(handler: Callable, registry: Any) -> Callable:
    settings = get_app_settings(registry)
    # Sign-in forms post to the provider; nothing else may be a form target.
    issuer = urlsplit(settings.idp.issuer)
    csp = CSP.format(form_action=f"{issuer.scheme}://{issuer.netloc}")
    hsts = settings.session.secure
    auth_paths = settings.auth.prefix + "/"  # the callback's URL carries the code and state

    def security_headers_tween(request: Any) -> Any:
        response = handler(request)
        headers = response.headers
        headers.setdefault("Content-Security-Policy", csp)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        if request.environ.get("PATH_INFO", "").startswith(auth_paths):
            headers["Referrer-Policy"] = "no-referrer"
        else:
            headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if not may_be_cached(request, response):
            headers["Cache-Control"] = "no-store"
        if hsts:
            headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        headers["X-Request-Id"] = request.request_id
        return response

    return security_headers_tween
