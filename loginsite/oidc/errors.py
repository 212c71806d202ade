"""Everything that can go wrong while signing in with the provider, as exceptions.

Each error carries what the web glue needs and nothing a person reads: ``status`` is the HTTP
status to answer with, ``code`` names what happened (the web layer turns it into words, in the
visitor's language: ``loginsite.web.messages``), ``reason`` is what goes to the log, and
``category`` says which kind of trouble it was:

- ``provider_unavailable``: login.gov could not be reached, did not answer in time, answered
  with a server error or an error page instead of JSON (503/504/502, "not available");
- ``answer_refused``: login.gov answered, but the answer failed validation (too large, a token
  response without tokens, userinfo contradicting the id_token): 502, told apart from an
  outage, since login.gov was available and loginsite refused what it said;
- ``id_token_refused``, ``request_refused`` (the provider refused our token or userinfo
  request), ``callback_refused`` and ``sign_in_denied`` (``error=`` on the callback): 400.

``reason`` never holds a token, a code or a cookie, only which rule failed or which endpoint
misbehaved, so it can be logged as is.
"""

from __future__ import annotations

__all__ = [
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


class OIDCError(Exception):
    """Base class: a sign-in that could not be completed, with no session created."""

    status: int = 500
    category: str = "sign_in_failed"
    #: what happened, for the page (``loginsite.web.messages`` has the words for each code)
    code: str = "sign_in_failed"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, reason={self.reason!r})"


class ProviderUnavailable(OIDCError):
    """The provider cannot be used: unreachable, or its discovery document is unsafe/unusable."""

    status = 503
    category = "provider_unavailable"
    code = "provider_unavailable"


class ProviderBusy(ProviderUnavailable):
    """Not sent: the cap on concurrent provider calls is reached (the provider is slow)."""

    code = "provider_busy"


class ProviderTimeout(OIDCError):
    """The provider did not answer within the configured timeout."""

    status = 504
    category = "provider_unavailable"
    code = "provider_timeout"


class ProviderError(OIDCError):
    """The provider answered with a server error or with something other than the JSON asked for;
    with ``answer_refused=True``: it answered, and the answer failed validation."""

    status = 502
    category = "provider_unavailable"
    code = "provider_error"

    def __init__(self, reason: str, *, answer_refused: bool = False) -> None:
        if answer_refused:
            self.category = "answer_refused"
            self.code = "answer_refused"
        super().__init__(reason)


class InvalidUserinfo(ProviderError):
    """The userinfo document contradicts the id_token (e.g. a different ``sub``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, answer_refused=True)
        self.code = "inconsistent_userinfo"


class ProviderRefused(OIDCError):
    """The provider refused our request (token endpoint 400, userinfo 401); ``reason`` says why."""

    status = 400
    category = "request_refused"
    code = "provider_refused"


class AuthorizationDenied(OIDCError):
    """The provider sent the browser back with ``error=`` instead of a code; ``access_denied``
    is the person cancelling (code ``sign_in_cancelled``)."""

    status = 400
    category = "sign_in_denied"
    code = "sign_in_denied"

    def __init__(self, error: str, reason: str | None = None) -> None:
        self.error = error
        if error == "access_denied":
            self.code = "sign_in_cancelled"
        super().__init__(reason or f"provider returned error={error!r}")


class InvalidIdToken(OIDCError):
    """The id_token failed one of the OIDC Core 3.1.3.7 checks; ``reason`` names the rule."""

    status = 400
    category = "id_token_refused"
    code = "invalid_id_token"


class InvalidCallback(OIDCError):
    """The browser came back with a callback we cannot accept (no code, wrong ``iss``, ...)."""

    status = 400
    category = "callback_refused"
    code = "invalid_callback"
