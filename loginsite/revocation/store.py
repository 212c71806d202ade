"""What a revocation store promises, and the in-memory list every store answers from.

Session cookies are stateless signed tokens, so a copied cookie would stay valid until its
deadline even after sign-out. The revocation list closes that gap: it holds only the sessions
that ended early (by ``jti``) and per-user "not before" times (by ``sub``), each kept only as
long as a token it matches can still be valid (:mod:`loginsite.revocation.lifetime`: the idle
window plus the propagation bound, never past the session's deadline). The security policy asks
it on every request, so :meth:`RevocationStore.is_revoked` must be a local lookup, never a
network call.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

Clock = Callable[[], float]

#: How often (seconds of the list's clock) expired entries are swept out.
DEFAULT_PURGE_INTERVAL = 60.0


class RevocationUnavailable(Exception):
    """The revocation list cannot be trusted (or written) right now.

    Raised by :meth:`RevocationStore.is_revoked` of a shared store whose copy is more than
    ``max_staleness`` seconds behind (or was never synced): the caller must not accept the
    session (the policy treats the request as anonymous, without clearing the cookie). Raised
    by the ``revoke_*`` methods only when not even the local journal could record the entry.
    """


@dataclass(frozen=True)
class RevocationStatus:
    """What a readiness endpoint reports about the store (``store.status()``).

    ``ready``: :meth:`RevocationStore.is_revoked` answers (it would not raise).
    ``synced``: the local copy is current with the shared store right now.
    ``staleness``: seconds since the copy was last known current (``inf``: never synced).
    ``pending_writes``: revocations made here that have not reached the shared store yet.
    ``journal_depth``: of those, how many are in the durable local journal.
    ``entries``: live entries in the local copy.
    """

    ready: bool
    synced: bool
    staleness: float
    pending_writes: int
    journal_depth: int
    entries: int
    #: Whole-list loads since start (a reconnect that resumes incrementally adds none).
    full_loads: int = 0
    #: Times the sync had to reconnect to the shared store.
    reconnects: int = 0

    @classmethod
    def local(cls, entries: int) -> RevocationStatus:
        """A store that is its own shared store: always ready and current."""
        return cls(
            ready=True,
            synced=True,
            staleness=0.0,
            pending_writes=0,
            journal_depth=0,
            entries=entries,
        )

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly (``staleness`` of a never-synced store is ``None``)."""
        return {
            "ready": self.ready,
            "synced": self.synced,
            "staleness": None if math.isinf(self.staleness) else round(self.staleness, 3),
            "pending_writes": self.pending_writes,
            "journal_depth": self.journal_depth,
            "entries": self.entries,
            "full_loads": self.full_loads,
            "reconnects": self.reconnects,
        }


class RevocationStore(Protocol):
    """Where ended sessions are recorded and looked up; see :mod:`loginsite.revocation`."""

    def is_revoked(self, session_id: str, sub: str, signed_in_at: int) -> bool:
        """True if ``session_id`` was revoked, or ``sub`` was revoked for sessions signed in
        before its not-before time (``signed_in_at < not_before``). A local lookup only.

        May raise :class:`RevocationUnavailable` (shared store, copy too stale).
        """
        ...

    def revoke_session(self, session_id: str, expires_at: int) -> None:
        """End one session. ``expires_at`` is the token's absolute deadline: the entry is kept
        for the entry lifetime from when it reaches the shared store, never past it.

        When this returns, the revocation applies in this process and is durable (in the
        shared store or the local journal); raises :class:`RevocationUnavailable` only if not
        even the journal could record it.
        """
        ...

    def revoke_user(self, sub: str, not_before: int, expires_at: int) -> None:
        """End every session of ``sub`` signed in before ``not_before``. ``expires_at`` is the
        latest deadline such a session can have (not_before + max age); the entry lifetime
        applies as for :meth:`revoke_session`, and so does durability."""
        ...

    def status(self) -> RevocationStatus:
        """The readiness state; cheap enough for every health check."""
        ...

    def claim_once(self, key: str, expires_at: int) -> bool:
        """True for the first caller to claim ``key`` (across every instance sharing the
        store), False for every later one until ``expires_at``: the replay cache of Security
        Event Tokens (key: their ``jti``).

        Never raises because the shared store is unreachable: it then answers from this
        process's memory alone (a replay to another instance during an outage goes
        undetected), because refusing a genuine event would lose it for good.
        """
        ...

    def close(self) -> None:
        """Release threads and connections; the store must not be used afterwards."""
        ...


class RevocationList:
    """The revoked ``jti`` and per-``sub`` not-before entries, each with an expiry time.

    Thread-safe (writes under a lock, reads without one). Adding is idempotent and monotonic (a
    later expiry or not-before wins), so entries may arrive twice or out of order from several
    sources and the result is the same.
    Expired entries never match; they are swept out at most every ``purge_interval`` seconds
    during normal use, so the list only ever holds sessions that ended early and are not yet
    past their deadline.
    """

    def __init__(
        self, *, clock: Clock = time.time, purge_interval: float = DEFAULT_PURGE_INTERVAL
    ) -> None:
        self._clock = clock
        self._purge_interval = purge_interval
        self._lock = threading.Lock()
        self._sessions: dict[str, int] = {}  # jti -> expires_at
        self._users: dict[str, tuple[int, int]] = {}  # sub -> (not_before, expires_at)
        self._next_purge = clock() + purge_interval

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions) + len(self._users)

    def is_revoked(self, session_id: str, sub: str, signed_in_at: int) -> bool:
        """Asked on every request, so it takes no lock: writers hold the lock, and a single
        ``dict.get`` is atomic, so a read sees each entry either before or after a write."""
        now = self._clock()
        if now >= self._next_purge:
            with self._lock:
                self._maybe_purge_locked(now)
        expires_at = self._sessions.get(session_id)
        if expires_at is not None and expires_at > now:
            return True
        user = self._users.get(sub)
        return user is not None and user[1] > now and signed_in_at < user[0]

    def add_session(self, session_id: str, expires_at: int) -> bool:
        """Record a revoked session; True if that changed the list."""
        now = self._clock()
        with self._lock:
            self._maybe_purge_locked(now)
            if expires_at <= now or self._sessions.get(session_id, 0) >= expires_at:
                return False
            self._sessions[session_id] = expires_at
            return True

    def add_user(self, sub: str, not_before: int, expires_at: int) -> bool:
        """Record a user's not-before time (the larger one wins); True if that changed the list."""
        now = self._clock()
        with self._lock:
            self._maybe_purge_locked(now)
            if expires_at <= now:
                return False
            old = self._users.get(sub)
            if old is not None:
                new = (max(old[0], not_before), max(old[1], expires_at))
                if new == old:
                    return False
            else:
                new = (not_before, expires_at)
            self._users[sub] = new
            return True

    def add_many(self, sessions: list[tuple[str, int]], users: list[tuple[str, int, int]]) -> None:
        """Record many entries under one lock (a load of thousands at a time)."""
        now = self._clock()
        with self._lock:
            self._maybe_purge_locked(now)
            known = self._sessions
            for session_id, expires_at in sessions:
                if expires_at > now and known.get(session_id, 0) < expires_at:
                    known[session_id] = expires_at
            for sub, not_before, expires_at in users:
                if expires_at <= now:
                    continue
                old = self._users.get(sub)
                if old is not None:
                    not_before, expires_at = max(old[0], not_before), max(old[1], expires_at)
                self._users[sub] = (not_before, expires_at)

    def sessions(self) -> dict[str, int]:
        """A snapshot of the live ``jti -> expires_at`` entries."""
        now = self._clock()
        with self._lock:
            return {k: v for k, v in self._sessions.items() if v > now}

    def users(self) -> dict[str, tuple[int, int]]:
        """A snapshot of the live ``sub -> (not_before, expires_at)`` entries."""
        now = self._clock()
        with self._lock:
            return {k: v for k, v in self._users.items() if v[1] > now}

    def _maybe_purge_locked(self, now: float) -> None:
        if now >= self._next_purge:
            self._purge_locked(now)

    def _purge_locked(self, now: float) -> int:
        dead_sessions = [k for k, exp in self._sessions.items() if exp <= now]
        for key in dead_sessions:
            del self._sessions[key]
        dead_users = [k for k, (_, exp) in self._users.items() if exp <= now]
        for key in dead_users:
            del self._users[key]
        self._next_purge = now + self._purge_interval
        return len(dead_sessions) + len(dead_users)


class LocalClaims:
    """One-time claims held in this process's memory, each forgotten at its expiry.

    Thread-safe. Expired claims are swept out at most every ``purge_interval`` seconds, so
    memory holds only claims that are still live.
    """

    def __init__(
        self, *, clock: Clock = time.time, purge_interval: float = DEFAULT_PURGE_INTERVAL
    ) -> None:
        self._clock = clock
        self._purge_interval = purge_interval
        self._lock = threading.Lock()
        self._claims: dict[str, int] = {}  # key -> expires_at
        self._next_purge = clock() + purge_interval

    def __len__(self) -> int:
        with self._lock:
            return len(self._claims)

    def claim_once(self, key: str, expires_at: int) -> bool:
        """True if ``key`` was not claimed (or its claim has expired); it is claimed now."""
        now = self._clock()
        with self._lock:
            if now >= self._next_purge:
                self._claims = {k: exp for k, exp in self._claims.items() if exp > now}
                self._next_purge = now + self._purge_interval
            current = self._claims.get(key)
            if current is not None and current > now:
                return False
            if expires_at > now:
                self._claims[key] = int(expires_at)
            return True
