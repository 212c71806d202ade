"""The page's language: the switch's cookie, then Accept-Language, then the default."""

from __future__ import annotations

from typing import Any

import pytest
import webtest
from webob import Request

from loginsite.i18n.negotiation import LocaleNegotiator
from loginsite.settings import LanguageSettings

BOTH = LanguageSettings(available=("en", "es"), default="en")


def negotiate(
    accept_language: str | None = None,
    cookie: str | None = None,
    *,
    languages: LanguageSettings = BOTH,
    secure: bool = False,
) -> str:
    request: Any = Request.blank("/")
    if accept_language is not None:
        request.headers["Accept-Language"] = accept_language
    if cookie is not None:
        request.headers["Cookie"] = cookie
    request.add_response_callback = lambda callback: None
    return LocaleNegotiator(languages, secure)(request)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("es", "es"),
        ("es-MX", "es"),  # RFC 4647 lookup: the range is shortened until it finds a tag
        ("es-419,es;q=0.9,en;q=0.8", "es"),
        ("en-US,en;q=0.9,es;q=0.8", "en"),
        ("fr-CA,fr;q=0.9,es;q=0.5", "es"),  # the best language the site has
        ("de", "en"),  # none of them: the default
        ("es;q=0", "en"),  # "not Spanish"
        ("*", "en"),
        ("es;q=abc,,,;;", "en"),  # malformed: as if there were none
        ("\u00e9s", "en"),
    ],
)
def test_accept_language(header: str | None, expected: str) -> None:
    assert negotiate(header) == expected


def test_the_switchs_cookie_wins_over_the_header() -> None:
    assert negotiate("en", cookie="lang=es") == "es"
    assert negotiate("es", cookie="lang=en") == "en"


def test_secure_sites_read_only_the_host_prefixed_cookie() -> None:
    assert negotiate("en", cookie="__Host-lang=es", secure=True) == "es"
    # A cookie without the prefix may come from a sibling subdomain: ignored.
    assert negotiate("en", cookie="lang=es", secure=True) == "en"


@pytest.mark.parametrize("value", ["fr", "ES", "es-MX", "", '"es', "x" * 400])
def test_a_cookie_naming_no_offered_language_is_ignored(value: str) -> None:
    assert negotiate("es", cookie=f"lang={value}") == "es"
    assert negotiate(None, cookie=f"lang={value}") == "en"


def test_only_offered_languages_come_out() -> None:
    english_only = LanguageSettings(available=("en",), default="en")
    assert negotiate("es", languages=english_only) == "en"
    assert negotiate("en", cookie="lang=es", languages=english_only) == "en"
    spanish_first = LanguageSettings(available=("en", "es"), default="es")
    assert negotiate(None, languages=spanish_first) == "es"
    assert negotiate("de", languages=spanish_first) == "es"


def test_a_page_in_a_negotiated_language_varies_on_what_chose_it(
    testapp: webtest.TestApp,
) -> None:
    response = testapp.get("/nowhere", headers={"Accept-Language": "es"}, status=404)
    assert "No se encontró la página" in response.text
    assert {"Accept-Language", "Cookie"} <= set(response.vary or ())
    assert len(response.headers.getall("Vary")) == 1
    assert len([v for v in response.vary if v == "Cookie"]) == 1


def test_static_files_do_not_vary_on_language(testapp: webtest.TestApp) -> None:
    response = testapp.get("/static/site.css", headers={"Accept-Language": "es"})
    assert "Accept-Language" not in (response.vary or ())
