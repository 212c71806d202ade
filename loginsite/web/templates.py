"""Jinja2 for loginsite's pages: the ``.html`` renderer, and the layout the sign-in pages extend.

The sign-in pages (``sign_out_confirm.html``, ``signed_out.html``, ``error.html``) extend the
template named by ``loginsite.auth.layout`` (the Jinja2 global ``auth_layout``), so that in
a host app they render inside the host's own layout. Templates are named by asset spec
(``loginsite:templates/...``), so ``config.override_asset`` can replace any of them.
"""

from __future__ import annotations

from typing import Any

from pyramid_jinja2 import EXTRAS_CONFIG_PHASE

from loginsite.settings import get_app_settings

RENDERER = ".html"
#: The Jinja2 global the sign-in pages' ``{% extends %}`` names.
LAYOUT_GLOBAL = "auth_layout"


def includeme(config: Any) -> None:
    layout = get_app_settings(config.registry).auth.layout
    # Compiled templates are kept on disk (Jinja2's per-user cache folder in the temp dir),
    # so a fresh process renders its first page, often an error page, without compiling.
    config.registry.settings.setdefault("jinja2.bytecode_caching", "true")
    config.include("pyramid_jinja2")
    # A host app's own ``.html`` Jinja2 renderer, set up in its main(), takes precedence over
    # this one (Pyramid lets the includer win): loginsite's pages then share its environment.
    config.add_jinja2_renderer(RENDERER, settings_prefix="jinja2.")
    config.add_jinja2_search_path("loginsite:templates", name=RENDERER)

    def set_layout() -> None:
        config.get_jinja2_environment(RENDERER).globals[LAYOUT_GLOBAL] = layout

    config.action(None, set_layout, order=EXTRAS_CONFIG_PHASE)
