"""The language switch: ``GET /language?lang=es&next=/account`` remembers the choice in a
cookie and goes back to the page it came from.

A GET, so that it is a plain link that works without JavaScript. Nothing in it is trusted: the
language must be one the site offers (anything else is a 400 page and a log line) and ``next``
must be a same-site relative path (anything else goes to the home page).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pyramid.httpexceptions import HTTPSeeOther

from loginsite.auth.urls import is_sign_in_page
from loginsite.i18n import _
from loginsite.i18n.negotiation import language_cookie_name
from loginsite.oidc import sanitize_next
from loginsite.settings import get_app_settings
from loginsite.web.errors import error_page, home_action

log = logging.getLogger(__name__)

#: A year: the choice outlives sessions (it says nothing about who the visitor is).
COOKIE_MAX_AGE = 365 * 24 * 3600

_LOG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def return_path(request: Any) -> str:
    """Where the switch comes back to: this page, unless coming back would repeat something.

    The pages of the sign-in flow (a callback, a sign-out receipt) and error pages cannot be
    shown twice, so their switch goes to the home page.
    """
    home = request.resource_path(request.site_root)
    if request.method != "GET" or getattr(request, "exception", None) is not None:
        return home
    if is_sign_in_page(request):
        return home
    return sanitize_next(request.path_qs, default=home)


def language_switch_path(request: Any, code: str) -> str | None:
    """``request.language_switch_path("es")``: the link that switches this page to Spanish
    (None if the site does not offer it), for the layout's language selector."""
    if code not in get_app_settings(request.registry).languages.available:
        return None
    return request.resource_path(
        request.site_root, "language", query={"lang": code, "next": return_path(request)}
    )


def switch_language(context: Any, request: Any) -> Any:
    settings = get_app_settings(request.registry)
    lang = request.GET.get("lang")
    if lang not in settings.languages.available:
        log.info(
            "i18n.language_refused lang=%s request_id=%s",
            _LOG_UNSAFE.sub("?", str(lang)[:16]) if lang is not None else "-",
            request.request_id,
        )
        return error_page(
            request,
            400,
            _("This language is not available"),
            _(
                "This site is not available in the language that was asked for. Choose one of "
                "the languages at the top of the page."
            ),
            action=home_action(request),
        )
    home = request.resource_path(request.site_root)
    target = sanitize_next(request.GET.get("next"), default=home)
    response = HTTPSeeOther(location=request.absolute_url(target))
    secure = settings.session.secure
    response.set_cookie(
        language_cookie_name(secure),
        lang,
        max_age=COOKIE_MAX_AGE,
        path="/",
        secure=secure,
        httponly=True,
        samesite="Lax",
    )
    return response
