"""Everything that can go wrong while signing in with the provider, as exceptions.

The web glue maps each error to a page: ``status`` is the HTTP status to answer with, ``title``
and ``user_message`` are what the person reads (what happened, what to do next) and ``reason``
is what goes to the log, with ``category``, which says which kind of trouble it was:

- ``provider_unavailable``: login.gov could not be reached, did not answer in time, answered
  with a server error or an error page instead of JSON (503/504/502, "not available");
- ``answer_refused``: login.gov answered, but the answer failed validation (too large, a token
  response without tokens, userinfo contradicting the id_token): 502 with its own title, since
  login.gov was available and loginsite refused what it said;
- ``id_token_refused``, ``request_refused`` (the provider refused our token or userinfo
  request), ``callback_refused`` and ``sign_in_denied`` (``error=`` on the callback): 400.
 ``reason`` never holds a token, a code or a cookie, only which rule failed
or which endpoint misbehaved, so it can be logged as is.
"""

from __future__ import annotations

__all__ = [
    "ANSWER_REFUSED_TITLE",
    "NOT_AVAILABLE_TITLE",
    "AuthorizationDenied",
    "InvalidCallback",
    "InvalidIdToken",
    "InvalidUserinfo",
    "OIDCError",
    "ProviderBusy",
    "ProviderError",
    "ProviderRefused",
    "ProviderTimeout",
    "ProviderUnavailable",
]

_TRY_AGAIN_LATER = "Please try again in a few minutes."
NOT_AVAILABLE_TITLE = "Login.gov is not available right now"
ANSWER_REFUSED_TITLE = "Login.gov's answer did not pass our checks"
ANSWER_REFUSED_MESSAGE = (
    "login.gov answered, but its answer failed our security checks, so you are not signed in. "
    "Please try signing in again; if this keeps happening, contact us and quote the reference."
)


class OIDCError(Exception):
    """Base class: a sign-in that could not be completed, with no session created."""

    status: int = 500
    category: str = "sign_in_failed"
    title: str = "We could not sign you in"
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
    category = "provider_unavailable"
    title = NOT_AVAILABLE_TITLE
    default_user_message = "We could not reach login.gov to sign you in. " + _TRY_AGAIN_LATER


class ProviderBusy(ProviderUnavailable):
    """Not sent: the cap on concurrent provider calls is reached (the provider is slow)."""

    default_user_message = (
        "login.gov is slow to answer right now, so we could not start signing you in. "
        + _TRY_AGAIN_LATER
    )


class ProviderTimeout(OIDCError):
    """The provider did not answer within the configured timeout."""

    status = 504
    category = "provider_unavailable"
    title = NOT_AVAILABLE_TITLE
    default_user_message = "login.gov is taking too long to answer. " + _TRY_AGAIN_LATER


class ProviderError(OIDCError):
    """The provider answered with a server error or with something other than the JSON asked for;
    with ``answer_refused=True``: it answered, and the answer failed validation."""

    status = 502
    category = "provider_unavailable"
    title = NOT_AVAILABLE_TITLE
    default_user_message = (
        "login.gov sent an unexpected answer, so we could not sign you in. " + _TRY_AGAIN_LATER
    )

    def __init__(
        self, reason: str, user_message: str | None = None, *, answer_refused: bool = False
    ) -> None:
        if answer_refused:
            self.category = "answer_refused"
            self.title = ANSWER_REFUSED_TITLE
            user_message = user_message or ANSWER_REFUSED_MESSAGE
        super().__init__(reason, user_message)


class InvalidUserinfo(ProviderError):
    """The userinfo document contradicts the id_token (e.g. a different ``sub``)."""

    default_user_message = (
        "login.gov sent inconsistent account details, so we did not sign you in. "
        "Please try signing in again."
    )

    def __init__(self, reason: str, user_message: str | None = None) -> None:
        super().__init__(reason, user_message or self.default_user_message, answer_refused=True)


class ProviderRefused(OIDCError):
    """The provider refused our request (token endpoint 400, userinfo 401); ``reason`` says why."""

    status = 400
    category = "request_refused"
    default_user_message = (
        "login.gov did not accept this sign-in, possibly because it took too long or the "
        "page was reloaded. Please start signing in again."
    )


class AuthorizationDenied(OIDCError):
    """The provider sent the browser back with ``error=`` instead of a code."""

    status = 400
    category = "sign_in_denied"
    default_user_message = (
        "login.gov could not complete the sign-in. Please start signing in again."
    )
    cancelled_message = (
        "You cancelled sign-in, so you are not signed in. You can sign in again whenever "
        "you are ready."
    )

    def __init__(self, error: str, reason: str | None = None) -> None:
        self.error = error
        if error == "access_denied":
            self.title = "You cancelled sign-in"
        super().__init__(
            reason or f"provider returned error={error!r}",
            self.cancelled_message if error == "access_denied" else None,
        )


class InvalidIdToken(OIDCError):
    """The id_token failed one of the OIDC Core 3.1.3.7 checks; ``reason`` names the rule."""

    status = 400
    category = "id_token_refused"
    default_user_message = (
        "We could not verify the sign-in response from login.gov, so you are not signed in. "
        "Please start signing in again."
    )


class InvalidCallback(OIDCError):
    """The browser came back with a callback we cannot accept (no code, wrong ``iss``, ...)."""

    status = 400
    category = "callback_refused"
    default_user_message = (
        "This sign-in link is not valid or has already been used. Please start signing in again."
    )
