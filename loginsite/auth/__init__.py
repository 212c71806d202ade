"""The /auth/* views: Pyramid glue between the browser, the OIDC client and the session policy."""

from __future__ import annotations

from typing import Any


def includeme(config: Any) -> None:
    config.include("loginsite.auth.urls")  # request.sign_in_path(next, level=...)
    config.include("loginsite.auth.views")  # /auth/login, /auth/callback, /auth/logout, ...
    config.include("loginsite.auth.forbidden")  # sign in, step up, or a 403 page
