"""Revocation of stateless sessions: the list of sessions that ended before their deadline.

``loginsite.revocation.store`` defines the interface; ``memory``, ``redis`` and ``none`` are the
three stores chosen by ``loginsite.revocation.store``. This module builds the configured one,
registers it with Pyramid, and offers the two revoke helpers that the web views and the
``loginsite-revoke`` script share, so both compute the same times.
"""

from __future__ import annotations

import atexit
import time
from typing import Any

from loginsite.revocation.lifetime import EntryLifetime
from loginsite.revocation.store import (
    Clock,
    RevocationStatus,
    RevocationStore,
    RevocationUnavailable,
)
from loginsite.settings import (
    SETTINGS_KEY,
    AppSettings,
    RawSettings,
    RevocationSettings,
    revocation_settings,
)

__all__ = [
    "STORE_KEY",
    "EntryLifetime",
    "RevocationStatus",
    "RevocationStore",
    "RevocationUnavailable",
    "get_revocation_store",
    "includeme",
    "make_revocation_store",
    "revoke_session",
    "revoke_user",
]

STORE_KEY = "loginsite.revocation_store"


def make_revocation_store(
    settings: RevocationSettings, *, clock: Clock = time.time
) -> RevocationStore:
    """Build the configured store; a redis store starts syncing in the background."""
    if settings.store == "redis":
        from loginsite.revocation.redis import RedisRevocationStore

        return RedisRevocationStore(settings, clock=clock)
    if settings.store == "none":
        from loginsite.revocation.none import NoRevocationStore

        return NoRevocationStore()
    from loginsite.revocation.memory import MemoryRevocationStore

    return MemoryRevocationStore(
        clock=clock, lifetime=EntryLifetime.for_settings(settings, shared=False)
    )


def revoke_user(
    store: RevocationStore, sub: str, *, max_age: int, now: float | None = None
) -> None:
    """End every session ``sub`` has now, everywhere ("sign out everywhere").

    Not-before is the next whole second, so a session signed in during this very second (its
    sign-in time is whole seconds) is ended too; a sign-in within that second is refused as
    well. No session signed in before it lives past ``not_before + max_age``: that caps the
    entry, which the store keeps for its idle-bound lifetime (:mod:`.lifetime`) within the cap.
    """
    current = time.time() if now is None else now
    not_before = int(current) + 1
    store.revoke_user(sub, not_before=not_before, expires_at=not_before + max_age)


def revoke_session(store: RevocationStore, session_id: str, *, expires_at: int) -> None:
    """End one session (sign-out). ``expires_at`` is that token's absolute deadline: it caps
    the entry, which the store keeps for its idle-bound lifetime (:mod:`.lifetime`)."""
    store.revoke_session(session_id, expires_at=int(expires_at))


def includeme(config: Any) -> None:
    """Build the store once per registry from the parsed settings and close it at exit.

    Several packages include this one; only the first include builds a store (a second redis
    store would mean a second sync thread and connection).
    """
    if STORE_KEY in config.registry:
        return
    app_settings: AppSettings | None = config.registry.get(SETTINGS_KEY)
    if app_settings is not None:
        settings = app_settings.revocation
    else:
        settings = revocation_settings(RawSettings(config.get_settings()))
    store = make_revocation_store(settings)
    config.registry[STORE_KEY] = store
    atexit.register(store.close)


def get_revocation_store(registry: Any) -> RevocationStore:
    return registry[STORE_KEY]
