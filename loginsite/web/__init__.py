"""Web plumbing shared by every page: templates, static files, headers, CSRF, absolute URLs."""

from __future__ import annotations

from typing import Any

from loginsite.settings import cookie_name_on_wire, get_app_settings
from loginsite.web.csrf import AppCookieCSRFStoragePolicy
from loginsite.web.uswds import check_assets


def includeme(config: Any) -> None:
    settings = get_app_settings(config.registry)
    check_assets()  # the pages need USWDS: refuse to start without it, naming the fix
    # Compiled templates are kept on disk (Jinja2's per-user cache folder in the temp dir),
    # so a fresh process renders its first page, often an error page, without compiling.
    config.registry.settings.setdefault("jinja2.bytecode_caching", "true")
    config.include("pyramid_jinja2")
    config.add_jinja2_renderer(".html", settings_prefix="jinja2.")
    config.add_jinja2_search_path("loginsite:templates", name=".html")
    config.add_static_view("static", "loginsite:static", cache_max_age=3600)
    secure = settings.session.secure
    config.set_csrf_storage_policy(
        AppCookieCSRFStoragePolicy(
            cookie_name=cookie_name_on_wire("csrf", secure=secure),
            secure=secure,
            httponly=True,
            samesite="Lax",
            path="/",
        )
    )
    config.set_default_csrf_options(require_csrf=True)
    public_url = settings.public_url
    config.add_request_method(lambda request, path: public_url + path, "absolute_url")
    config.include("loginsite.web.request_id")
    config.include("loginsite.web.site")  # site name, agency and links for every template
    # Outermost first: every answer gets the headers, the screening refuses what no view should
    # see, then the cookies are sanitised for whatever parses them.
    headers = "loginsite.web.headers.security_headers_tween_factory"
    screening = "loginsite.web.screening.request_screening_tween_factory"
    config.add_tween(headers)
    config.add_tween(screening, under=headers)
    config.add_tween("loginsite.web.cookies.cookie_sanitising_tween_factory", under=screening)
    config.include("loginsite.web.errors")
