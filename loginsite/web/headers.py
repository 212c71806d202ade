"""Browser-facing defences, set on every response in one place."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from loginsite.settings import get_app_settings

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self' {form_action}; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def security_headers_tween_factory(handler: Callable, registry: Any) -> Callable:
    settings = get_app_settings(registry)
    # Sign-in forms post to the provider; nothing else may be a form target.
    issuer = urlsplit(settings.idp.issuer)
    csp = CSP.format(form_action=f"{issuer.scheme}://{issuer.netloc}")
    hsts = settings.session.secure

    def security_headers_tween(request: Any) -> Any:
        cookies = request.environ.get("HTTP_COOKIE")
        if cookies and not cookies.isascii():
            request.environ["HTTP_COOKIE"] = _decodable_cookies(cookies)
        incoming = request.headers.get("X-Request-Id", "")
        request.environ["loginsite.request_id"] = (
            incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(8)
        )
        response = handler(request)
        headers = response.headers
        headers.setdefault("Content-Security-Policy", csp)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        path = request.environ.get("PATH_INFO", "")  # raw: may not even be valid UTF-8
        if path.startswith("/auth/"):
            headers["Referrer-Policy"] = "no-referrer"
        else:
            headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if not path.startswith("/static/"):
            # Every dynamic page may show personal data or carry sign-in state.
            headers["Cache-Control"] = "no-store"
        if hsts:
            headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        headers["X-Request-Id"] = request.environ["loginsite.request_id"]
        return response

    return security_headers_tween


def _decodable_cookies(header: str) -> str:
    """Drop cookies WebOb could not decode (it raises on non-UTF-8 bytes), keep the rest."""
    kept = []
    for part in header.split(";"):
        try:
            part.encode("latin-1").decode("utf-8")
        except UnicodeError:
            continue
        kept.append(part)
    return ";".join(kept)
