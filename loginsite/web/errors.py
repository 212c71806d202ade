"""Friendly pages for everything that is not a normal answer: never a traceback."""

from __future__ import annotations

import logging
from collections.abc import Callable
from html import escape
from typing import Any

from pyramid.exceptions import BadCSRFOrigin, BadCSRFToken
from pyramid.httpexceptions import HTTPException
from pyramid.i18n import TranslationString
from pyramid.renderers import render_to_response
from pyramid.response import Response

from loginsite.i18n import _
from loginsite.operations import audit

log = logging.getLogger(__name__)

#: An asset spec, so that it renders in a host app as in loginsite's own (and can be overridden).
ERROR_TEMPLATE = "loginsite:templates/error.html"


Text = str | TranslationString


def error_page(
    request: Any,
    status: int,
    title: Text,
    message: Text,
    *,
    action: tuple[Text, str] | None = None,
    offer_sign_out: bool = False,
) -> Any:
    """Render the shared error page in the visitor's language; ``action`` is the (label, path)
    of what to do next; ``offer_sign_out`` adds a sign-out button (a session that is there but
    cannot be checked can still be ended).

    Sign-in and step-up redirects for pages a visitor may not open are the auth layer's
    decision: see ``loginsite.auth.forbidden``.
    """
    translate, lang = _translator(request)
    title, message = translate(title), translate(message)
    if action is not None:
        action = (translate(action[0]), action[1])
    try:
        response = render_to_response(
            ERROR_TEMPLATE,
            {
                "title": title,
                "message": message,
                "action": action,
                "status": status,
                "offer_sign_out": offer_sign_out,
            },
            request=request,
        )
    except Exception:
        # An error page must never fail itself (that would be the server's bare 500, without
        # the security headers): the same words, without the layout or anything it consults.
        log.exception("page.render_failed status=%d request_id=%s", status, _request_id(request))
        response = Response(
            _FALLBACK_PAGE.format(
                lang=lang,
                title=escape(title),
                message=escape(message),
                home=escape(translate(_("Go to the home page"))),
                error=escape(translate(_("Error ${status}", mapping={"status": status}))),
            ),
            content_type="text/html",
            charset="utf-8",
        )
    response.status_int = status
    return response


def _translator(request: Any) -> tuple[Callable[[Text], str], str]:
    """The request's translate and language; English, if even those cannot be had."""
    try:
        return request.localizer.translate, request.locale_name
    except Exception:
        log.exception("page.translation_failed request_id=%s", _request_id(request))
        return _english, "en"


def _english(text: Text) -> str:
    """The source text, with its placeholders filled in."""
    return text.interpolate() if isinstance(text, TranslationString) else str(text)


_FALLBACK_PAGE = (
    '<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
    '</head><body><main><h1>{title}</h1><p>{message}</p><p><a href="/">{home}</a></p>'
    "<p>{error}</p></main></body></html>"
)


def _request_id(request: Any) -> str:
    return getattr(request, "request_id", "-")


def home_action(request: Any) -> tuple[str, str]:
    """The usual way out of an error page: the root of wherever the app is mounted (in a host
    app too, whose sign-out form may meet :func:`bad_csrf`)."""
    return (_("Go to the home page"), request.script_name + "/")


def not_found(exc: Any, request: Any) -> Any:
    return error_page(
        request,
        404,
        _("Page not found"),
        _("There is no page at this address. Check the address, or go back to the home page."),
        action=home_action(request),
    )


def bad_csrf(exc: Any, request: Any) -> Any:
    log.info("csrf.refused path=%s reason=%s", request.path, type(exc).__name__)
    identity = request.identity  # the page's header shows it anyway
    audit.record(
        "csrf.refused",
        audit.FAILURE,
        "bad_origin" if isinstance(exc, BadCSRFOrigin) else "bad_token",
        audit.origin_of(request, "csrf"),
        sub=getattr(identity, "sub", None),
        sid=getattr(identity, "session_id", None),
        method=request.method,
    )
    return error_page(
        request,
        400,
        _("This form has expired"),
        _(
            "The form you sent was out of date or did not come from this site, so nothing was "
            "changed. Go back, reload the page and try again."
        ),
        action=home_action(request),
    )


def undecodable(exc: Exception, request: Any) -> Any:
    log.info("request.undecodable path=%r reason=%s", _raw_path(request), exc)
    return error_page(
        request,
        400,
        _("We could not read that address"),
        _(
            "The web address or form contained characters this site cannot read. Check the "
            "address, or go back to the home page."
        ),
        action=home_action(request),
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
        _("This request could not be handled"),
        _("The request could not be handled. Go back and try again."),
        action=home_action(request),
    )


def server_error(exc: Exception, request: Any) -> Any:
    log.exception(
        "request.failed path=%r request_id=%s",
        _raw_path(request),
        _request_id(request),
    )
    return error_page(
        request,
        500,
        _("Something went wrong"),
        _("We could not finish your request. Try again in a few minutes."),
        action=home_action(request),
    )


def includeme(config: Any) -> None:
    config.add_notfound_view(not_found, append_slash=False)
    config.add_exception_view(bad_csrf, context=BadCSRFToken)
    config.add_exception_view(bad_csrf, context=BadCSRFOrigin)
    config.add_exception_view(undecodable, context=UnicodeDecodeError)
    config.add_exception_view(http_exception, context=HTTPException)
    config.add_exception_view(server_error, context=Exception)
