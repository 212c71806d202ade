"""loginsite: sign in with login.gov, stay signed in with a stateless JWT-cookie session."""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator

from loginsite.settings import SettingsError, SettingsExit
from loginsite.web.uswds import AssetsMissing

#: loginsite's own layout; its sign-in pages use it too (a host app names its own, or none).
SITE_LAYOUT = "loginsite:templates/layout.html"


def main(global_config: dict[str, Any] | None, **settings: Any) -> Any:
    """The WSGI app ``pserve`` serves; each include is one part of the site."""
    settings.setdefault("loginsite.auth.layout", SITE_LAYOUT)
    with Configurator(settings=settings) as config:
        config.include("loginsite.settings")  # parse and validate every setting, once
        config.include("loginsite.operations")  # health, metrics, production risk warnings
        config.include("loginsite.web")  # templates, static files, headers, CSRF, error pages
        config.include("loginsite.i18n")  # English and Spanish: catalogs, negotiator, switch
        config.include("loginsite.session")  # the JWT-cookie security policy + revocation list
        config.include("loginsite.resources")  # the traversal tree and its ACLs
        config.include("loginsite.auth")  # /auth/login, /auth/callback, /auth/logout
        config.include("loginsite.security_events")  # POST /api/security-events (login.gov SETs)
        config.include("loginsite.account")  # home, account and identity-verified pages
        config.include("loginsite.operations.request_log")  # last: the outermost tween
    return config.make_wsgi_app()


def paste_app(global_config: dict[str, Any] | None, **settings: Any) -> Any:
    """The ``paste.app_factory`` that ``pserve`` loads: a settings error ends it in one line."""
    try:
        return main(global_config, **settings)
    except SettingsError as exc:
        raise SettingsExit(exc) from None
    except AssetsMissing as exc:
        raise SystemExit(f"loginsite: {exc}") from None


def includeme(config: Any) -> None:
    """``config.include("loginsite")`` in another app: the session security policy alone
    (sign-in, its views and pages too: ``config.include("loginsite.auth")``)."""
    config.include("loginsite.session")
