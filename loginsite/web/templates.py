"""Jinja2 for loginsite's pages: the ``.html`` renderer, and the layout the sign-in pages extend.

The sign-in pages (``sign_out_confirm.html``, ``signed_out.html``, ``error.html``) extend the
template named by ``loginsite.auth.layout`` (the Jinja2 global ``auth_layout``), so that in
a host app they render inside the host's own layout. Templates are named by asset spec
(``loginsite:templates/...``), so ``config.override_asset`` can replace any of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyramid_jinja2 import EXTRAS_CONFIG_PHASE

from loginsite.i18n import DOMAIN
from loginsite.settings import get_app_settings

RENDERER = ".html"
#: The app's Jinja2 settings, and the copy of them loginsite's renderer reads.
APP_PREFIX = "jinja2."
SETTINGS_PREFIX = "loginsite.web.jinja2."
#: The Jinja2 global the sign-in pages' ``{% extends %}`` names.
LAYOUT_GLOBAL = "auth_layout"


def includeme(config: Any) -> None:
    layout = get_app_settings(config.registry).auth.layout
    config.include("pyramid_jinja2")
    config.add_settings(renderer_settings(config.registry.settings))
    # Every page is in English and Spanish: the loginsite catalogs, whichever app this is in.
    config.add_translation_dirs("loginsite:locale")
    # A host app's own ``.html`` Jinja2 renderer, set up in its main(), takes precedence over
    # this one (Pyramid lets the includer win): loginsite's pages then share its environment,
    # which needs ``jinja2.newstyle = true`` (README "Add Login.gov to your Pyramid app").
    config.add_jinja2_renderer(RENDERER, settings_prefix=SETTINGS_PREFIX)
    config.add_jinja2_search_path("loginsite:templates", name=RENDERER)

    def set_layout() -> None:
        config.get_jinja2_environment(RENDERER).globals[LAYOUT_GLOBAL] = layout

    config.action(None, set_layout, order=EXTRAS_CONFIG_PHASE)


def renderer_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The ``.html`` renderer's settings, under a prefix of its own: the app's ``jinja2.*``
    settings (reloading, caching, ...), but loginsite's own gettext, so that its pages
    translate in the ``loginsite`` domain with newstyle gettext (values escaped) even in a host
    app whose ``jinja2.*`` says otherwise for its own templates."""
    own = {
        SETTINGS_PREFIX + key[len(APP_PREFIX) :]: value
        for key, value in settings.items()
        if key.startswith(APP_PREFIX)
    }
    # Compiled templates are kept on disk (Jinja2's per-user cache folder in the temp dir),
    # so a fresh process renders its first page, often an error page, without compiling.
    own.setdefault(SETTINGS_PREFIX + "bytecode_caching", "true")
    own[SETTINGS_PREFIX + "i18n.domain"] = DOMAIN
    own[SETTINGS_PREFIX + "newstyle"] = "true"
    return own
