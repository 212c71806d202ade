"""The words for each sign-in failure code, in English and Spanish."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyramid.i18n import Localizer, make_localizer

import loginsite
from loginsite.oidc import (
    AuthorizationDenied,
    InvalidCallback,
    InvalidIdToken,
    InvalidUserinfo,
    OIDCError,
    ProviderBusy,
    ProviderError,
    ProviderRefused,
    ProviderTimeout,
    ProviderUnavailable,
)
from loginsite.web.messages import SIGN_IN_MESSAGES, sign_in_failure

LOCALE_DIR = str(Path(loginsite.__file__).parent / "locale")

EVERY_ERROR: list[OIDCError] = [
    OIDCError("x"),
    ProviderUnavailable("x"),
    ProviderBusy("x"),
    ProviderTimeout("x"),
    ProviderError("HTTP 500"),
    ProviderError("too large", answer_refused=True),
    InvalidUserinfo("sub"),
    ProviderRefused("x"),
    AuthorizationDenied("access_denied"),
    AuthorizationDenied("invalid_request"),
    InvalidIdToken("x"),
    InvalidCallback("x"),
]


def localizer(lang: str) -> Localizer:
    return make_localizer(lang, [LOCALE_DIR])


def test_every_error_class_is_listed_here() -> None:
    def subclasses(cls: type) -> set[type]:
        found = set(cls.__subclasses__())
        return found.union(*(subclasses(sub) for sub in found)) if found else set()

    assert subclasses(OIDCError) | {OIDCError} == {type(exc) for exc in EVERY_ERROR}


@pytest.mark.parametrize("exc", EVERY_ERROR, ids=repr)
def test_every_code_has_its_own_words(exc: OIDCError) -> None:
    assert exc.code in SIGN_IN_MESSAGES
    assert sign_in_failure(exc) is SIGN_IN_MESSAGES[exc.code]


def test_the_codes_words_are_all_different() -> None:
    texts = [str(words.text) for words in SIGN_IN_MESSAGES.values()]
    assert len(set(texts)) == len(texts)


def test_an_unknown_code_gets_the_general_words() -> None:
    exc = ProviderRefused("x")
    exc.code = "something_new"
    assert sign_in_failure(exc) is SIGN_IN_MESSAGES["sign_in_failed"]


def test_outages_say_not_available_and_a_refused_answer_says_what_happened() -> None:
    english = localizer("en")
    for exc in (ProviderUnavailable("x"), ProviderTimeout("x"), ProviderBusy("x")):
        assert english.translate(sign_in_failure(exc).title) == (
            "Login.gov is not available right now"
        )
    for exc in (ProviderError("too large", answer_refused=True), InvalidUserinfo("sub")):
        words = sign_in_failure(exc)
        title = english.translate(words.title)
        assert title == "Login.gov's answer did not pass our checks"
        assert "not available" not in title + english.translate(words.text)
    assert "inconsistent account details" in english.translate(
        sign_in_failure(InvalidUserinfo("sub")).text
    )
    assert english.translate(sign_in_failure(AuthorizationDenied("access_denied")).title) == (
        "You cancelled sign-in"
    )


@pytest.mark.parametrize("exc", EVERY_ERROR, ids=repr)
def test_every_message_is_in_spanish(exc: OIDCError) -> None:
    words = sign_in_failure(exc)
    english, spanish = localizer("en"), localizer("es")
    for text in (words.title, words.text):
        assert spanish.translate(text) != english.translate(text)
    assert spanish.translate(SIGN_IN_MESSAGES["provider_unavailable"].title) == (
        "Login.gov no está disponible en este momento"
    )
