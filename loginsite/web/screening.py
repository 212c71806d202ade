"""Refuse what no view should ever see, before anything parses it: each with a 4xx page and one
log line saying why, never a 500.

- Headers over :data:`MAX_HEADER_BYTES` each, or :data:`MAX_HEADERS_BYTES` together: 431. waitress
  accepts 256 KB of headers, and parsers downstream (WebOb's cookie parser is quadratic) must
  never be handed that much.
- Methods the site does not serve (``TRACE``, ``PUT``, ...): 405 with ``Allow``.
- A form body that cannot be parsed (multipart without a boundary, an unknown charset): 400. It
  is parsed here, once, because Pyramid's CSRF check reads it before any view would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from loginsite.i18n import _
from loginsite.web.errors import error_page, home_action

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 8192
MAX_HEADERS_BYTES = 16384
ALLOWED_METHODS = ("GET", "HEAD", "POST")
_ALLOW = ", ".join(ALLOWED_METHODS)
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def oversized_header(environ: dict[str, Any]) -> tuple[str, int] | None:
    """The first header over its bound (``"all headers"`` for the total) and its size."""
    total = 0
    for key, value in environ.items():
        if key[:5] == "HTTP_" and isinstance(value, str):
            size = len(value)
            if size > MAX_HEADER_BYTES:
                return key[5:].replace("_", "-").title(), size
            total += len(key) + size
    if total > MAX_HEADERS_BYTES:
        return "all headers", total
    return None


def _log_refusal(request: Any, status: int, reason: str) -> None:
    log.info(
        "request.refused status=%d reason=%s path=%r request_id=%s",
        status,
        reason,
        request.environ.get("PATH_INFO", "")[:200],
        request.request_id,
    )


def headers_too_large(request: Any, header: str, size: int) -> Any:
    _log_refusal(request, 431, f"header too large ({header}: {size} bytes)")
    # Render without the request's cookies: nothing on this page may parse them.
    request.environ.pop("HTTP_COOKIE", None)
    return error_page(
        request,
        431,
        _("Your browser sent too much data"),
        _(
            "Your browser sent more data with this request than this site accepts, usually "
            "because of too many or too large cookies. Clear this site's cookies in your "
            "browser, then try again."
        ),
        action=home_action(request),
    )


def method_not_allowed(request: Any) -> Any:
    _log_refusal(request, 405, f"method not allowed ({request.method[:20]!r})")
    response = error_page(
        request,
        405,
        _("This kind of request is not supported"),
        _("This site only answers ordinary page visits and form submissions."),
        action=home_action(request),
    )
    response.headers["Allow"] = _ALLOW
    return response


def unreadable_form(request: Any, exc: Exception) -> Any:
    _log_refusal(request, 400, f"unreadable form ({type(exc).__name__}: {str(exc)[:120]!r})")
    return error_page(
        request,
        400,
        _("We could not read that form"),
        _(
            "The form you sent was not in a format this site can read, so nothing was "
            "changed. Go back, reload the page and try again."
        ),
        action=home_action(request),
    )


def request_screening_tween_factory(handler: Callable, registry: Any) -> Callable:
    def request_screening_tween(request: Any) -> Any:
        environ = request.environ
        oversized = oversized_header(environ)
        if oversized is not None:
            return headers_too_large(request, *oversized)
        if environ.get("REQUEST_METHOD") not in ALLOWED_METHODS:
            return method_not_allowed(request)
        if environ.get("CONTENT_TYPE", "").lower().startswith(_FORM_TYPES):
            try:
                request.POST  # noqa: B018 - parsed once here; WebOb keeps the result
            except UnicodeDecodeError:
                pass  # the undecodable-input page says it better (loginsite.web.errors)
            except Exception as exc:  # any failure to parse what the client sent
                return unreadable_form(request, exc)
        return handler(request)

    return request_screening_tween
