"""A built-in development identity provider: a login.gov look-alike under ``/_devidp/``.

Add ``loginsite.devidp`` to ``pyramid.includes`` in a development INI. It speaks login.gov's
protocol over real HTTP (discovery, JWKS, authorize, token, userinfo, logout) so the app's real
client code signs in against it, offline. It refuses to load outside development.
"""

from __future__ import annotations

from typing import Any

from loginsite.settings import SettingsError, get_app_settings

from .provider import ENDPOINTS, PREFIX, DevProvider

__all__ = ["REGISTRY_KEY", "SENDER_KEY", "DevProvider", "get_provider", "includeme"]

REGISTRY_KEY = "loginsite.devidp.provider"
SENDER_KEY = "loginsite.devidp.security_event_sender"


def get_provider(registry: Any) -> DevProvider:
    """The running provider (tests use it to move its clock)."""
    return registry[REGISTRY_KEY]


def includeme(config: Any) -> None:
    # pyramid.includes run before main() includes the settings; the include is idempotent.
    config.include("loginsite.settings")
    settings = get_app_settings(config.registry)
    if settings.environment != "development":
        raise SettingsError(
            "loginsite.environment",
            "loginsite.devidp (the development identity provider) only loads when "
            f"loginsite.environment = development; this is {settings.environment!r}. Remove "
            "loginsite.devidp from pyramid.includes.",
        )
    if settings.devidp is None:
        raise SettingsError(
            "loginsite.devidp.data_dir",
            "the development provider needs a folder for its signing key (e.g. %(here)s/var/dev)",
        )
    expected_issuer = settings.public_url + PREFIX + "/"
    if settings.idp.issuer != expected_issuer:
        raise SettingsError(
            "loginsite.idp.issuer",
            f"the development provider is served at {expected_issuer} (loginsite.public_url "
            f"+ {PREFIX}/), but this is {settings.idp.issuer!r}. Leave loginsite.idp.issuer "
            "unset: with loginsite.devidp included it follows loginsite.public_url.",
        )
    provider = DevProvider.from_settings(settings)
    config.registry[REGISTRY_KEY] = provider
    from .security_events import SecurityEventSender

    config.registry[SENDER_KEY] = SecurityEventSender(
        provider, push_url=settings.security_events_url, timeout=settings.idp.timeout
    )
    for name, path in ENDPOINTS.items():
        config.add_route(f"devidp.{name}", PREFIX + path)
    config.add_route("devidp.home", PREFIX + "/")
    config.add_route("devidp.security_events", PREFIX + "/security-events")
    # What its pages need, in a host app too (each include runs once); their style sheet is
    # served where loginsite.auth serves loginsite's static files.
    config.include("loginsite.web.templates")
    config.include("loginsite.web.csrf")
    config.include(".views")
