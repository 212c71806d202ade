"""English and Spanish pages with Pyramid's own i18n: one translation domain, one negotiator.

``_`` marks a string for translation in Python (a ``TranslationString`` of the ``loginsite``
domain, which ``pybabel extract`` finds); templates use ``jinja2.ext.i18n`` (``_()`` and
``{% trans %}``), which pyramid_jinja2 binds to the request's localizer. The catalogs are
``loginsite/locale/<lang>/LC_MESSAGES/loginsite.po`` and their compiled ``.mo`` (both
committed; see the README's "Languages").
"""

from __future__ import annotations

from typing import Any

from pyramid.i18n import TranslationStringFactory

#: The gettext domain of every string the pages show.
DOMAIN = "loginsite"

_ = TranslationStringFactory(DOMAIN)


def includeme(config: Any) -> None:
    from loginsite.i18n.negotiation import LocaleNegotiator
    from loginsite.i18n.switch import language_switch_path, switch_language
    from loginsite.resources import Root
    from loginsite.settings import get_app_settings

    settings = get_app_settings(config.registry)
    config.set_locale_negotiator(LocaleNegotiator(settings.languages, settings.session.secure))
    config.add_request_method(language_switch_path, "language_switch_path")
    config.add_view(switch_language, context=Root, name="language", request_method="GET")
