"""Friendly pages for everything that is not a normal answer: never a traceback."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from pyramid.exceptions import BadCSRFOrigin, BadCSRFToken
from pyramid.httpexceptions import HTTPException, HTTPSeeOther
from pyramid.renderers import render_to_response

from loginsite.session.policy import SESSION_UNVERIFIABLE

log = logging.getLogger(__name__)


def error_page(
    request: Any,
    status: int,
    title: str,
    message: str,
    *,
    action: tuple[str, str] | None = None,
) -> Any:
    """Render the shared error page; ``action`` is the (label, path) of what to do next."""
    response = render_to_response(
        "error.html",
        {"title": title, "message": message, "action": action, "status": status},
        request=request,
    )
    response.status_int = status
    return response


def not_found(exc: Any, request: Any) -> Any:
    return error_page(
        request,
        404,
        "Page not found",
        "There is no page at this address. Check the address, or go back to the home page.",
        action=("Go to the home page", "/"),
    )


def forbidden(exc: Any, request: Any) -> Any:
    """Anonymous: go sign in. Signed in without the assurance level: step up. Otherwise 403."""
    identity = request.identity
    if identity is None and request.environ.get(SESSION_UNVERIFIABLE):
        # Sending the user to sign in again would loop: the new session could not be
        # checked either.
        return error_page(
            request,
            503,
            "We cannot confirm your session right now",
            "Your session could not be checked just now, so this page is not available. "
            "Please try again in a few minutes; you do not need to sign in again.",
            action=("Go to the home page", "/"),
        )
    required_acr = getattr(request.context, "required_acr", None)
    if identity is None or (required_acr is not None and identity.acr != required_acr):
        query = {"next": request.path}
        if required_acr is not None:
            query["level"] = "verified"
        return HTTPSeeOther(location=request.absolute_url("/auth/login?" + urlencode(query)))
    log.info("page.forbidden path=%s sub=%s", request.path, identity.sub)
    return error_page(
        request,
        403,
        "You do not have access to this page",
        "You are signed in, but your account is not allowed to see this page.",
        action=("Go to your account", "/account"),
    )


def bad_csrf(exc: Any, request: Any) -> Any:
    log.info("csrf.refused path=%s reason=%s", request.path, type(exc).__name__)
    return error_page(
        request,
        400,
        "This form has expired",
        "The form you sent was out of date or did not come from this site, so nothing was "
        "changed. Go back, reload the page and try again.",
        action=("Go to the home page", "/"),
    )


def undecodable(exc: Exception, request: Any) -> Any:
    log.info("request.undecodable path=%r reason=%s", _raw_path(request), exc)
    return error_page(
        request,
        400,
        "We could not read that address",
        "The web address or form contained characters this site cannot read. Check the "
        "address, or go back to the home page.",
        action=("Go to the home page", "/"),
    )


def _raw_path(request: Any) -> str:
    """The path as received, for logs: ``request.path`` raises on bytes that are not UTF-8."""
    return request.environ.get("PATH_INFO", "")[:200]


def http_exception(exc: HTTPException, request: Any) -> Any:
    if exc.status_int < 400:
        return exc
    return error_page(
        request,
        exc.status_int,
        exc.title,
        "The request could not be handled. Go back and try again.",
        action=("Go to the home page", "/"),
    )


def server_error(exc: Exception, request: Any) -> Any:
    log.exception(
        "request.failed path=%r request_id=%s",
        _raw_path(request),
        request.environ.get("loginsite.request_id", "-"),
    )
    return error_page(
        request,
        500,
        "Something went wrong",
        "We could not finish your request. Try again in a few minutes.",
        action=("Go to the home page", "/"),
    )


def includeme(config: Any) -> None:
    config.add_notfound_view(not_found, append_slash=False)
    config.add_forbidden_view(forbidden)
    config.add_exception_view(bad_csrf, context=BadCSRFToken)
    config.add_exception_view(bad_csrf, context=BadCSRFOrigin)
    config.add_exception_view(undecodable, context=UnicodeDecodeError)
    config.add_exception_view(http_exception, context=HTTPException)
    config.add_exception_view(server_error, context=Exception)
