"""Pyramid's double-submit CSRF cookie, read with the app's own cookie reader.

``CookieCSRFStoragePolicy`` reads ``request.cookies``: WebOb's parser of the whole header, on
every POST and every page with a sign-out form. This policy keeps its cookie, its token and its
check, and reads the one cookie it needs straight from the header.
"""

from __future__ import annotations

from typing import Any

from pyramid.csrf import CookieCSRFStoragePolicy

from loginsite.session.cookie import cookie_value
from loginsite.settings import cookie_name_on_wire, get_app_settings

# A token minted during this request, which the browser does not have yet.
_NEW_TOKEN_KEY = "loginsite.csrf.new_token"  # noqa: S105 - an environ key, not a secret


class AppCookieCSRFStoragePolicy(CookieCSRFStoragePolicy):
    def new_csrf_token(self, request: Any) -> str:
        token = self._token_factory()
        request.environ[_NEW_TOKEN_KEY] = token

        def set_cookie(request: Any, response: Any) -> None:
            self.cookie_profile.set_cookies(response, token)

        request.add_response_callback(set_cookie)
        return token

    def get_csrf_token(self, request: Any) -> str:
        environ = request.environ
        token = environ.get(_NEW_TOKEN_KEY) or cookie_value(environ, self.cookie_name)
        if not token:
            token = self.new_csrf_token(request)
        return token


def includeme(config: Any) -> None:
    """The CSRF storage policy. A host app that sets its own in its main() keeps it (Pyramid
    lets the includer win); loginsite's forms work with any policy."""
    secure = get_app_settings(config.registry).session.secure
    config.set_csrf_storage_policy(
        AppCookieCSRFStoragePolicy(
            cookie_name=cookie_name_on_wire("csrf", secure=secure),
            secure=secure,
            httponly=True,
            samesite="Lax",
            path="/",
        )
    )
