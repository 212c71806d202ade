"""Thin views over the traversal tree; permissions come from the resources' ACLs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loginsite.account.times import ReadableTime, readable_time
from loginsite.i18n import _
from loginsite.resources import Account, Root, VerifiedAccount
from loginsite.settings import ACR_VERIFIED, get_app_settings

LEVEL_NAMES = {ACR_VERIFIED: _("Identity verified")}
AUTH_ONLY_NAME = _("Authenticated (no identity verification)")


@dataclass(frozen=True)
class SessionTimes:
    signed_in_at: ReadableTime
    idle_deadline: ReadableTime
    deadline: ReadableTime


def home(request: Any) -> dict[str, Any]:
    return {}


def account(request: Any) -> dict[str, Any]:
    who = request.identity
    zone = get_app_settings(request.registry).site.display_timezone
    locale = request.locale_name

    def shown(timestamp: int) -> ReadableTime:
        return readable_time(timestamp, zone, locale)

    return {
        "level_name": request.localizer.translate(LEVEL_NAMES.get(who.acr, AUTH_ONLY_NAME)),
        "times": SessionTimes(shown(who.signed_in_at), shown(who.expires_at), shown(who.deadline)),
    }


def verified(request: Any) -> dict[str, Any]:
    return {}


def includeme(config: Any) -> None:
    config.add_view(home, context=Root, name="", renderer="home.html", permission="view")
    config.add_view(account, context=Account, name="", renderer="account.html", permission="view")
    config.add_view(
        verified, context=VerifiedAccount, name="", renderer="verified.html", permission="view"
    )
