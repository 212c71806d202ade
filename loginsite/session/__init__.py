"""Stateless JWT-cookie sessions as a Pyramid security policy.

Another Pyramid app gets the policy alone with ``config.include("loginsite.session")``; it needs
only the ``loginsite.session.*`` (and optionally ``loginsite.revocation.*``) settings.
"""

from __future__ import annotations

from typing import Any

from pyramid.tweens import INGRESS

from loginsite.session.policy import SessionSecurityPolicy, acr_principal, user_principal
from loginsite.session.token import InvalidSession, SessionCodec, SessionToken, SessionTooLarge
from loginsite.settings import SETTINGS_KEY, RawSettings, session_settings

__all__ = [
    "InvalidSession",
    "SessionCodec",
    "SessionSecurityPolicy",
    "SessionToken",
    "SessionTooLarge",
    "acr_principal",
    "includeme",
    "user_principal",
]


def includeme(config: Any) -> None:
    app_settings = config.registry.get(SETTINGS_KEY)
    if app_settings is not None:
        settings = app_settings.session
    else:
        settings = session_settings(RawSettings(config.get_settings()))
    config.include("loginsite.revocation")
    from loginsite.revocation import get_revocation_store

    config.set_security_policy(
        SessionSecurityPolicy(settings, get_revocation_store(config.registry), response_tween=True)
    )
    config.add_tween(
        "loginsite.session.response_plan.session_response_tween_factory", under=INGRESS
    )
