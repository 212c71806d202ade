"""Security Event Tokens from login.gov: an account event ends the user's sessions everywhere.

``config.include("loginsite.security_events")`` after ``loginsite.auth``: the verifier shares
the sign-in client's discovery and JWKS caches (and so its rate-limited refetch on an unknown
``kid``), and acts through the revocation store every instance shares.
"""

from __future__ import annotations

from typing import Any

from loginsite.auth.views import FLOW_KEY
from loginsite.oidc.security_event import SecurityEventVerifier
from loginsite.revocation import get_revocation_store
from loginsite.revocation.none import NoRevocationStore
from loginsite.settings import SECURITY_EVENTS_PATH, get_app_settings

from .receiver import Receipt, SecurityEventReceiver
from .views import RECEIVER_KEY

__all__ = ["RECEIVER_KEY", "Receipt", "SecurityEventReceiver", "includeme"]


def includeme(config: Any) -> None:
    settings = get_app_settings(config.registry)
    client = config.registry[FLOW_KEY].client
    verifier = SecurityEventVerifier(
        metadata=client.metadata,
        keys=client.jwks,
        # login.gov sends the push_notification_url as aud, or, for partners it has
        # configured so, the client_id: both name this app.
        audiences=(settings.security_events_url, settings.idp.client_id),
        leeway=settings.idp.leeway,
    )
    store = get_revocation_store(config.registry)
    config.registry[RECEIVER_KEY] = SecurityEventReceiver(
        verifier,
        store,
        settings.security_events,
        max_age=settings.session.max_age,
        leeway=settings.idp.leeway,
        acts=not isinstance(store, NoRevocationStore),
    )
    config.add_route("security_events", SECURITY_EVENTS_PATH)
    config.include(".views")
