"""Web plumbing shared by every page: templates, static files, headers, CSRF, absolute URLs."""

from __future__ import annotations

from typing import Any

from pyramid.csrf import CookieCSRFStoragePolicy

from loginsite.settings import get_app_settings


def includeme(config: Any) -> None:
    settings = get_app_settings(config.registry)
    config.include("pyramid_jinja2")
    config.add_jinja2_renderer(".html", settings_prefix="jinja2.")
    config.add_jinja2_search_path("loginsite:templates", name=".html")
    config.add_static_view("static", "loginsite:static", cache_max_age=3600)
    secure = settings.session.secure
    config.set_csrf_storage_policy(
        CookieCSRFStoragePolicy(
            cookie_name="__Host-csrf" if secure else "csrf",
            secure=secure,
            httponly=True,
            samesite="Lax",
            path="/",
        )
    )
    config.set_default_csrf_options(require_csrf=True)
    public_url = settings.public_url
    config.add_request_method(lambda request, path: public_url + path, "absolute_url")
    config.add_tween("loginsite.web.headers.security_headers_tween_factory")
    config.include("loginsite.web.errors")
