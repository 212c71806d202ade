"""Which language a page is in: the visitor's choice, else what the browser asks for, else the
site's default. Only languages the site offers ever come out."""

from __future__ import annotations

from typing import Any

from loginsite.session.cookie import cookie_value
from loginsite.settings import LanguageSettings, cookie_name_on_wire

#: The cookie the language switch sets (``__Host-lang`` when cookies are secure).
LANGUAGE_COOKIE = "lang"


def language_cookie_name(secure: bool) -> str:
    return cookie_name_on_wire(LANGUAGE_COOKIE, secure=secure)


class LocaleNegotiator:
    """Pyramid's locale negotiator: cookie, then ``Accept-Language``, then the default.

    Each answer whose language was negotiated says so in ``Vary``, so that no cache hands a
    Spanish page to someone who asked for English.
    """

    def __init__(self, languages: LanguageSettings, secure: bool) -> None:
        self.available = languages.available
        self.default = languages.default
        self.cookie_name = language_cookie_name(secure)

    def __call__(self, request: Any) -> str:
        request.add_response_callback(_vary_on_language)
        chosen = cookie_value(request.environ, self.cookie_name)
        if chosen in self.available:
            return chosen
        # RFC 4647 lookup: "es-MX" finds "es"; a malformed header finds nothing.
        return request.accept_language.lookup(self.available, default=self.default)


def _vary_on_language(request: Any, response: Any) -> None:
    vary = response.vary or ()
    missing = tuple(name for name in ("Accept-Language", "Cookie") if name not in vary)
    if missing:
        response.vary = (*vary, *missing)
