"""What a visitor sees on a page they may not open: sign in, step up, or a 403 page.

This is the sign-in flow's decision, so it lives with the auth views: anonymous visitors are sent
to sign in and come back, a session below the page's assurance level is sent to sign in again at
that level (a step-up), and only a signed-in user who could never be allowed gets a 403 page.
"""

from __future__ import annotations

import logging
from typing import Any

from pyramid.httpexceptions import HTTPSeeOther

from loginsite.auth.urls import LEVEL_VERIFIED, sign_in_path
from loginsite.i18n import _
from loginsite.session.policy import SESSION_UNVERIFIABLE, VERIFIED
from loginsite.settings import ACR_VERIFIED
from loginsite.web.errors import error_page

log = logging.getLogger(__name__)


def session_unverifiable(request: Any) -> bool:
    """True when the policy saw a session cookie it could not check (revocation list down)."""
    return bool(request.environ.get(SESSION_UNVERIFIABLE))


def forbidden(exc: Any, request: Any) -> Any:
    """Anonymous: go sign in. Signed in without the assurance level: step up. Otherwise 403."""
    identity = request.identity
    home = request.home_path
    if identity is None and session_unverifiable(request):
        # Sending the user to sign in again would loop: the new session could not be
        # checked either.
        return error_page(
            request,
            503,
            _("We cannot confirm your session right now"),
            _(
                "Your session could not be checked just now, so this page is not available. "
                "Please try again in a few minutes; you do not need to sign in again."
            ),
            action=(_("Go to the home page"), home),
            offer_sign_out=True,  # sign-out works in this state: it revokes what the cookie names
        )
    required_acr = _required_acr(exc, request)
    if identity is None or (required_acr is not None and identity.acr != required_acr):
        level = LEVEL_VERIFIED if required_acr is not None else None
        return HTTPSeeOther(
            location=request.absolute_url(sign_in_path(request, request.path, level=level))
        )
    log.info("page.forbidden path=%s sub=%s", request.path, identity.sub)
    return error_page(
        request,
        403,
        _("You do not have access to this page"),
        _("You are signed in, but your account is not allowed to see this page."),
        action=_way_out(request),
    )


def _required_acr(exc: Any, request: Any) -> str | None:
    """The assurance level the page demands: ``permission="loginsite.verified"``, or a context
    whose ACL demands the verified principal and says so with ``required_acr``."""
    if getattr(getattr(exc, "result", None), "permission", None) == VERIFIED:
        return ACR_VERIFIED
    return getattr(request.context, "required_acr", None)


def _way_out(request: Any) -> tuple[str, str]:
    """A signed-in user's way out of a 403: their account page where the app has one (loginsite's
    own names it as ``request.account_path``, see loginsite.resources), else the home page."""
    account = getattr(request, "account_path", None)
    if account is not None:
        return (_("Go to your account"), account)
    return (_("Go to the home page"), request.home_path)


def includeme(config: Any) -> None:
    # The whole app's: a host app that registers its own in its main() keeps it.
    config.add_forbidden_view(forbidden)
