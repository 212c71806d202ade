"""Thin views over the traversal tree; permissions come from the resources' ACLs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loginsite.resources import Account, Root, VerifiedAccount
from loginsite.settings import ACR_VERIFIED

LEVEL_NAMES = {ACR_VERIFIED: "Identity verified"}


@dataclass(frozen=True)
class SessionTimes:
    signed_in_at: datetime
    idle_deadline: datetime
    deadline: datetime


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def home(request: Any) -> dict[str, Any]:
    return {}


def account(request: Any) -> dict[str, Any]:
    who = request.identity
    return {
        "level_name": LEVEL_NAMES.get(who.acr, "Authenticated (no identity verification)"),
        "times": SessionTimes(_utc(who.signed_in_at), _utc(who.expires_at), _utc(who.deadline)),
    }


def verified(request: Any) -> dict[str, Any]:
    return {}


def includeme(config: Any) -> None:
    config.add_view(home, context=Root, name="", renderer="home.html", permission="view")
    config.add_view(account, context=Account, name="", renderer="account.html", permission="view")
    config.add_view(
        verified, context=VerifiedAccount, name="", renderer="verified.html", permission="view"
    )
