"""Sign in with login.gov in any Pyramid app: ``config.include("loginsite.auth")``.

One include gives loginsite's own app and a host app (URL dispatch or traversal) the same code
path: the settings (``loginsite.*`` from the app's INI file, parsed once), the JWT-cookie
security policy and its revocation list, the CSRF cookie, the sign-in routes below
``loginsite.auth.prefix`` (``/auth/login``, ``/auth/callback``, ``/auth/logout``,
``/auth/signed-out``), their pages rendered inside ``loginsite.auth.layout``, and the forbidden
view that sends anonymous visitors to sign in and signed-in ones to step up.

What a host app's views demand is said with a permission (see :mod:`loginsite.auth.permissions`)::

    config.add_view(report, route_name="report", permission=SIGNED_IN)   # "loginsite.signed_in"
    config.add_view(benefits, route_name="benefits", permission=VERIFIED)  # "loginsite.verified"
"""

from __future__ import annotations

from typing import Any

from loginsite.auth.permissions import (
    ACL,
    SIGNED_IN,
    SIGNED_IN_PRINCIPAL,
    VERIFIED,
    VERIFIED_PRINCIPAL,
)

__all__ = [
    "ACL",
    "SIGNED_IN",
    "SIGNED_IN_PRINCIPAL",
    "VERIFIED",
    "VERIFIED_PRINCIPAL",
    "includeme",
]


def includeme(config: Any) -> None:
    config.include("loginsite.settings")  # parse and validate every setting, once
    config.include("loginsite.web.request_id")  # request.request_id, in every log line
    config.include("loginsite.web.public_url")  # request.absolute_url(path)
    config.include("loginsite.web.templates")  # the pages, inside loginsite.auth.layout
    config.include("loginsite.web.site.template_values")  # site name, asset() in every render
    config.include("loginsite.web.csrf")  # the CSRF cookie the sign-out form carries
    config.include("loginsite.session")  # the JWT-cookie security policy + revocation list
    config.include("loginsite.auth.urls")  # the routes; request.sign_in_path(next, level=...)
    config.include("loginsite.auth.views")  # /auth/login, /auth/callback, /auth/logout, ...
    config.include("loginsite.auth.forbidden")  # sign in, step up, or a 403 page
