"""The site's identity on every page: its name, its agency and the identifier's links.

Templates never name the app: they get ``site`` (:class:`~loginsite.settings.SiteSettings`),
``site_domain`` (the host of ``loginsite.public_url``, the identifier's first line) and
``asset(path)`` (the URL of a file under ``loginsite/static/``) with every render, and
``session_unconfirmed()``: true when the browser holds a session this instance cannot check
right now (revocation list unavailable), so pages offer sign-out instead of a sign-in that would
loop. An identifier
link left at its development default points at a page of this site that says it is not set up.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pyramid.events import BeforeRender

from loginsite.i18n import _
from loginsite.resources import Root
from loginsite.session.policy import SESSION_UNVERIFIABLE
from loginsite.settings import IDENTIFIER_LINKS, get_app_settings

#: What each identifier link is called on its placeholder page.
LINK_TITLES = {
    "about": _("About"),
    "accessibility": _("Accessibility statement"),
    "foia": _("FOIA requests"),
    "no_fear_act": _("No FEAR Act data"),
    "privacy": _("Privacy policy"),
}


def includeme(config: Any) -> None:
    config.include(template_values)
    site = get_app_settings(config.registry).site
    for key in site.placeholder_links:
        config.add_view(
            _placeholder_view(key),
            context=Root,
            name=IDENTIFIER_LINKS[key].lstrip("/"),
            renderer="placeholder.html",
            request_method=("GET", "HEAD"),
        )


def template_values(config: Any) -> None:
    """``site``, ``site_domain``, ``asset()`` and ``session_unconfirmed()`` in every render:
    loginsite's pages use them, its sign-in pages in a host app too (``loginsite.auth``)."""
    settings = get_app_settings(config.registry)
    site = settings.site
    site_domain = urlsplit(settings.public_url).hostname or ""

    def add_site(event: Any) -> None:
        request = event.get("request")
        event["site"] = site
        event["site_domain"] = site_domain
        if request is not None:
            event["asset"] = lambda path: request.static_path("loginsite:static/" + path)
            event["session_unconfirmed"] = lambda: bool(request.environ.get(SESSION_UNVERIFIABLE))

    config.add_subscriber(add_site, BeforeRender)


def _placeholder_view(key: str) -> Any:
    setting = f"loginsite.agency.{key}_url"

    def placeholder(request: Any) -> dict[str, Any]:
        return {"page_title": request.localizer.translate(LINK_TITLES[key]), "setting": setting}

    return placeholder
