"""Everything that can go wrong while signing in with the provider, as exceptions.

The web glue maps each class to a page: ``status`` is the HTTP status to answer with,
``user_message`` is what the person reads (what happened, what to do next) and ``reason`` is
what goes to the log. ``reason`` never holds a token, a code or a cookie, only which rule failed
or which endpoint misbehaved, so it can be logged as is.
"""

from __future__ import annotations

__all__ = [
    "AuthorizationDenied",
    "InvalidCallback",
    "InvalidIdToken",
    "InvalidUserinfo",
    "OIDCError",
    "ProviderError",
    "ProviderRefused",
    "ProviderTimeout",
    "ProviderUnavailable",
]

_TRY_AGAIN_LATER = "Please try again in a few minutes."


class OIDCError(Exception):
    """Base class: a sign-in that could not be completed, with no session created."""

    status: int = 500
    default_user_message: str = "Sign-in could not be completed. Please try again."

    def __init__(self, reason: str, user_message: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.user_message = user_message or self.default_user_message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, reason={self.reason!r})"


class ProviderUnavailable(OIDCError):
    """The provider cannot be used: unreachable, or its discovery document is unsafe/unusable."""

    status = 503
    default_user_message = "We could not reach login.gov to sign you in. " + _TRY_AGAIN_LATER


class ProviderTimeout(OIDCError):
    """The provider did not answer within the configured timeout."""

    status = 504
    default_user_message = "login.gov is taking too long to answer. " + _TRY_AGAIN_LATER


class ProviderError(OIDCError):
    """The provider answered with a server error or with something other than the JSON asked for."""

    status = 502
    default_user_message = (
        "login.gov sent an unexpected answer, so we could not sign you in. " + _TRY_AGAIN_LATER
    )


class InvalidUserinfo(ProviderError):
    """The userinfo document contradicts the id_token (e.g. a different ``sub``)."""

    default_user_message = (
        "login.gov sent inconsistent account details, so we did not sign you in. "
        "Please try signing in again."
    )


class ProviderRefused(OIDCError):
    """The provider refused our request (token endpoint 400, userinfo 401); ``reason`` says why."""

    status = 400
    default_user_message = (
        "login.gov did not accept this sign-in, possibly because it took too long or the "
        "page was reloaded. Please start signing in again."
    )


class AuthorizationDenied(OIDCError):
    """The provider sent the browser back with ``error=`` instead of a code."""

    status = 400
    default_user_message = (
        "login.gov could not complete the sign-in. Please start signing in again."
    )
    cancelled_message = (
        "You cancelled sign-in, so you are not signed in. You can sign in again whenever "
        "you are ready."
    )

    def __init__(self, error: str, reason: str | None = None) -> None:
        self.error = error
        super().__init__(
            reason or f"provider returned error={error!r}",
            self.cancelled_message if error == "access_denied" else None,
        )


class InvalidIdToken(OIDCError):
    """The id_token failed one of the OIDC Core 3.1.3.7 checks; ``reason`` names the rule."""

    status = 400
    default_user_message = (
        "We could not verify the sign-in response from login.gov, so you are not signed in. "
        "Please start signing in again."
    )


class InvalidCallback(OIDCError):
    """The browser came back with a callback we cannot accept (no code, wrong ``iss``, ...)."""

    status = 400
    default_user_message = (
        "This sign-in link is not valid or has already been used. Please start signing in again."
    )
