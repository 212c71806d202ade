"""What a person reads when signing in fails: the words for each ``OIDCError.code``.

The OIDC package says what went wrong in codes only (it knows no framework and no language);
this table turns each code into a title and a message, as translation strings that the page
renders in the visitor's language. Each message says what happened and what to do next.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyramid.i18n import TranslationString

from loginsite.i18n import _
from loginsite.oidc import OIDCError


@dataclass(frozen=True)
class UserMessage:
    title: TranslationString
    text: TranslationString


NOT_AVAILABLE = _("Login.gov is not available right now")
ANSWER_REFUSED = _("Login.gov's answer did not pass our checks")
NOT_SIGNED_IN = _("We could not sign you in")

SIGN_IN_MESSAGES: dict[str, UserMessage] = {
    "sign_in_failed": UserMessage(
        NOT_SIGNED_IN, _("Sign-in could not be completed. Please try again.")
    ),
    "provider_unavailable": UserMessage(
        NOT_AVAILABLE,
        _("We could not reach Login.gov to sign you in. Please try again in a few minutes."),
    ),
    "provider_busy": UserMessage(
        NOT_AVAILABLE,
        _(
            "Login.gov is slow to answer right now, so we could not start signing you in. "
            "Please try again in a few minutes."
        ),
    ),
    "provider_timeout": UserMessage(
        NOT_AVAILABLE,
        _("Login.gov is taking too long to answer. Please try again in a few minutes."),
    ),
    "provider_error": UserMessage(
        NOT_AVAILABLE,
        _(
            "Login.gov sent an unexpected answer, so we could not sign you in. "
            "Please try again in a few minutes."
        ),
    ),
    "answer_refused": UserMessage(
        ANSWER_REFUSED,
        _(
            "Login.gov answered, but its answer failed our security checks, so you are not "
            "signed in. Please try signing in again; if this keeps happening, contact us and "
            "quote the reference."
        ),
    ),
    "inconsistent_userinfo": UserMessage(
        ANSWER_REFUSED,
        _(
            "Login.gov sent inconsistent account details, so we did not sign you in. "
            "Please try signing in again."
        ),
    ),
    "provider_refused": UserMessage(
        NOT_SIGNED_IN,
        _(
            "Login.gov did not accept this sign-in, possibly because it took too long or the "
            "page was reloaded. Please start signing in again."
        ),
    ),
    "sign_in_cancelled": UserMessage(
        _("You cancelled sign-in"),
        _(
            "You cancelled sign-in, so you are not signed in. You can sign in again whenever "
            "you are ready."
        ),
    ),
    "sign_in_denied": UserMessage(
        NOT_SIGNED_IN,
        _("Login.gov could not complete the sign-in. Please start signing in again."),
    ),
    "invalid_id_token": UserMessage(
        NOT_SIGNED_IN,
        _(
            "We could not verify the sign-in response from Login.gov, so you are not signed "
            "in. Please start signing in again."
        ),
    ),
    "invalid_callback": UserMessage(
        NOT_SIGNED_IN,
        _(
            "This sign-in link is not valid or has already been used. "
            "Please start signing in again."
        ),
    ),
}


def sign_in_failure(exc: OIDCError) -> UserMessage:
    """The words for ``exc``; a code without its own words gets the general ones."""
    return SIGN_IN_MESSAGES.get(exc.code, SIGN_IN_MESSAGES["sign_in_failed"])
