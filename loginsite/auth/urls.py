"""The one builder of sign-in links, for views, error pages and templates alike."""

from __future__ import annotations

from typing import Any

#: The ``level`` query value of /auth/login that asks for an identity-verified sign-in.
LEVEL_VERIFIED = "verified"


def sign_in_path(request: Any, next_path: str | None = None, *, level: str | None = None) -> str:
    """``/auth/login`` with the page to return to and the assurance level to reach, if any.

    A path, not an absolute URL: links stay on whatever origin the page was served from, and
    redirects make it absolute with ``request.absolute_url``, from ``loginsite.public_url``.
    """
    query = {}
    if next_path:
        query["next"] = next_path
    if level is not None:
        query["level"] = level
    return request.resource_path(request.site_root["auth"], "login", query=query or None)


def includeme(config: Any) -> None:
    config.add_request_method(sign_in_path, "sign_in_path")
