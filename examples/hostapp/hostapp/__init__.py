"""A small URL-dispatch Pyramid app that signs its users in with Login.gov through loginsite.

Everything loginsite adds is the ``config.include("loginsite.auth")`` line below, the
``loginsite.*`` settings in development.ini, and the permissions on the views in views.py.
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator


def main(global_config: dict[str, Any] | None, **settings: Any) -> Any:
    with Configurator(settings=settings) as config:
        config.include("pyramid_jinja2")  # the app's own pages: .jinja2 templates
        config.include("loginsite.auth")  # /auth/*, the session policy, CSRF, forbidden view
        config.add_route("home", "/")
        config.add_route("reports", "/reports")
        config.add_route("benefits", "/benefits")
        config.scan(".views")
    return config.make_wsgi_app()
