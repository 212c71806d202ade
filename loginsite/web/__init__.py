"""Web plumbing shared by every page: templates, static files, headers, CSRF, absolute URLs."""

from __future__ import annotations

from typing import Any

from loginsite.web.uswds import check_assets


def includeme(config: Any) -> None:
    check_assets()  # the pages need USWDS: refuse to start without it, naming the fix
    config.include("loginsite.web.templates")
    config.add_static_view("static", "loginsite:static", cache_max_age=3600)
    config.include("loginsite.web.csrf")  # the double-submit cookie; every POST is checked:
    config.set_default_csrf_options(require_csrf=True)
    config.include("loginsite.web.public_url")  # request.absolute_url(path)
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
