"""The sign-in routes, and the one builder of their links, for views, error pages and templates.

The views are routes (URL dispatch) below ``loginsite.auth.prefix`` (default ``/auth``), so they
work the same in a traversal app such as loginsite's own and in a URL-dispatch host app: routes
are matched before traversal.
"""

from __future__ import annotations

from typing import Any

from loginsite.settings import CALLBACK, SIGNED_OUT, SettingsError, get_app_settings

#: The ``level`` query value of /auth/login that asks for an identity-verified sign-in.
LEVEL_VERIFIED = "verified"

#: Route name -> path below the prefix.
LOGIN_ROUTE = "loginsite.auth.login"
CALLBACK_ROUTE = "loginsite.auth.callback"
LOGOUT_ROUTE = "loginsite.auth.logout"
SIGNED_OUT_ROUTE = "loginsite.auth.signed_out"
ROUTES = {
    LOGIN_ROUTE: "/login",
    CALLBACK_ROUTE: CALLBACK,
    LOGOUT_ROUTE: "/logout",
    SIGNED_OUT_ROUTE: SIGNED_OUT,
}


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
    return request.route_path(LOGIN_ROUTE, _query=query)


def sign_out_path(request: Any) -> str:
    """Where sign-out forms POST (with ``csrf_token``; ``everywhere=1`` ends every session)."""
    return request.route_path(LOGOUT_ROUTE)


def is_sign_in_page(request: Any) -> bool:
    """True for an answer of the sign-in views (which cannot be shown twice: a callback, a
    sign-out receipt)."""
    route = getattr(request, "matched_route", None)
    return route is not None and route.name in ROUTES


def home_path(request: Any) -> str:
    """The site's home page, the way out of every sign-in page: ``public_url`` has no path, so
    it is the root of wherever the app is mounted."""
    return request.script_name + "/"


def route_patterns(prefix: str, include_prefix: str | None) -> dict[str, str]:
    """Each route's pattern, given the ``route_prefix`` the include may have been given.

    The prefix is a setting (``loginsite.auth.prefix``) because the redirect URIs registered
    with login.gov, ``loginsite-check`` and the development provider must know it from the INI
    file. ``config.include("loginsite.auth", route_prefix=...)`` is accepted when it says the
    same, and refused, naming the setting, when it does not.
    """
    if include_prefix is None:
        return {name: prefix + path for name, path in ROUTES.items()}
    if "/" + include_prefix.strip("/") != prefix:
        raise SettingsError(
            "loginsite.auth.prefix",
            f"loginsite.auth was included with route_prefix={include_prefix!r}, but the "
            f"sign-in views are at loginsite.auth.prefix = {prefix}; set loginsite.auth.prefix "
            f"= /{include_prefix.strip('/')} in the INI file (the redirect URIs registered with "
            "login.gov follow it) and include loginsite.auth without route_prefix",
        )
    return dict(ROUTES)


def includeme(config: Any) -> None:
    prefix = get_app_settings(config.registry).auth.prefix
    for name, pattern in route_patterns(prefix, config.route_prefix).items():
        config.add_route(name, pattern)
    # The pages' images (the Login.gov logo) and style, below the prefix so that they never
    # take a host app's /static. loginsite's own app links to its /static, registered first.
    static = "static" if config.route_prefix else prefix.lstrip("/") + "/static"
    config.add_static_view(static, "loginsite:static", cache_max_age=3600)
    config.add_request_method(sign_in_path, "sign_in_path")
    config.add_request_method(sign_out_path, "sign_out_path")
    config.add_request_method(home_path, "home_path", reify=True)
