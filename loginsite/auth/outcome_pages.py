"""What a sign-in that did not complete shows, saying exactly what happened.

- Cancelled at login.gov (``error=access_denied``): a neutral notice, not an error page with a
  status and a reference; the sign-in button goes back to where the person was going.
- A step-up to identity verification that failed or was cancelled while the person is signed
  in at the basic level: the verified level was not granted, they are still signed in, and the
  retry asks for the verified level again.
- Anything else: the error page, whose "Try signing in again" keeps the page and the level
  this sign-in was for.
"""

from __future__ import annotations

from typing import Any

from pyramid.renderers import render_to_response

from loginsite.auth.urls import LEVEL_VERIFIED, sign_in_path
from loginsite.i18n import _
from loginsite.oidc import OIDCError
from loginsite.oidc.transaction import LoginTransaction
from loginsite.settings import ACR_VERIFIED
from loginsite.web.errors import error_page
from loginsite.web.messages import sign_in_failure

CANCELLED = "sign_in_cancelled"


def retry_path(request: Any, transaction: LoginTransaction | None) -> str:
    """Sign in again for the same page at the same level (a bare sign-in if neither is known)."""
    if transaction is None:
        return sign_in_path(request)
    level = LEVEL_VERIFIED if ACR_VERIFIED in transaction.acr_values else None
    return sign_in_path(request, transaction.next_path, level=level)


def is_step_up(request: Any, transaction: LoginTransaction | None) -> bool:
    """This sign-in asked for the verified level while a basic session is still signed in."""
    identity = request.identity
    return (
        transaction is not None
        and ACR_VERIFIED in transaction.acr_values
        and identity is not None
        and identity.acr != ACR_VERIFIED
    )


def sign_in_not_completed(
    request: Any, exc: OIDCError, transaction: LoginTransaction | None
) -> Any:
    """The page for a callback that brought no sign-in (the caller logs and counts it)."""
    cancelled = exc.code == CANCELLED
    if is_step_up(request, transaction):
        response = render_to_response(
            "loginsite:templates/step_up_not_granted.html",
            {"cancelled": cancelled, "retry_path": retry_path(request, transaction)},
            request=request,
        )
        response.status_int = 200 if cancelled else exc.status
        return response
    if cancelled:
        return render_to_response(
            "loginsite:templates/sign_in_cancelled.html",
            {"retry_path": retry_path(request, transaction)},
            request=request,
        )
    words = sign_in_failure(exc)  # "not available" only for outages; a refused answer says so
    return error_page(
        request,
        exc.status,
        words.title,
        words.text,
        action=(_("Try signing in again"), retry_path(request, transaction)),
    )
