"""A revocation list shared by every server through Redis, answered from local memory.

Every process keeps the whole list in memory (it is small: only sessions that ended early and
are not past their deadline), so :meth:`RedisRevocationStore.is_revoked` never touches the
network. A daemon thread keeps that copy current:

1. it SUBSCRIBEs to ``<key_prefix>events`` first and waits for the confirmation,
2. then writes any revocation queued while Redis was unreachable,
3. then loads every ``<key_prefix>jti:<id>`` / ``<key_prefix>sub:<sub>`` key with SCAN (merged
   into the local copy; nothing is ever removed except by expiry) and re-writes local entries
   that Redis lacks (e.g. Redis restarted without persistence),
4. then applies the events as they arrive, PINGs the subscription every second so a silent
   network failure is noticed, and writes anything queued meanwhile.

Subscribing before loading means an entry written during the load arrives as an event, so
nothing is missed. On any error the thread marks the sync broken, waits (0.1 s doubling up to
2 s) and starts over from step 1, so entries published while it was disconnected are reloaded.

Keys: ``jti:<id>`` and ``sub:<sub>`` hold ``"<not_before>:<expires_at>"`` (``0`` as not-before for
a session) and expire in Redis at ``expires_at`` (``SET ... EXAT``). A Lua script writes the key
(keeping the larger not-before and expiry) and PUBLISHes it in one step.

While the sync is broken, :meth:`~RedisRevocationStore.is_revoked` answers from the last synced
list for up to ``max_staleness`` seconds after the copy was last known current, then raises
:class:`~loginsite.revocation.store.RevocationUnavailable` (pages that need sign-in answer 503,
cookies are kept) until the sync is back. A store that never synced is infinitely stale.

Revoking never fails because of Redis: the entry is recorded locally at once (this process
refuses the session immediately), then written to Redis; if Redis is unreachable the entry is
queued, a warning is logged, and the sync thread writes it after reconnecting. Until then other
servers do not know it, and the queue is lost if this process stops first. Callers that must
know the write reached Redis (the ``loginsite-revoke`` script) call :meth:`wait_until_written`.
Every Redis call is bounded by ``redis_timeout``; start-up waits at most that long for the first
load and never fails because Redis is down.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from loginsite.revocation.lifetime import EntryLifetime
from loginsite.revocation.store import (
    Clock,
    LocalClaims,
    RevocationList,
    RevocationStatus,
    RevocationUnavailable,
)
from loginsite.settings import RevocationSettings

log = logging.getLogger(__name__)

MIN_BACKOFF = 0.1
MAX_BACKOFF = 2.0
#: How long the sync thread waits for an event before its housekeeping (heartbeat, queue).
POLL_INTERVAL = 0.1
HEARTBEAT_INTERVAL = 1.0
#: How long a PING may go unanswered before the sync counts as broken. Longer than a Redis call's
#: timeout: under CPU load the sync thread itself may wait a second for the GIL, and failing
#: closed on that would sign every user out of a busy server.
MIN_HEARTBEAT_TIMEOUT = 2.0
SCAN_BATCH = 1000

Kind = Literal["jti", "sub"]

# KEYS[1] = entry key; ARGV = kind, id, not_before, expires_at, channel.
_WRITE_SCRIPT = """
local nb = tonumber(ARGV[3])
local exp = tonumber(ARGV[4])
local cur = redis.call('GET', KEYS[1])
if cur then
  local cnb, cexp = string.match(cur, '^(%d+):(%d+)$')
  if cnb then
    nb = math.max(nb, tonumber(cnb))
    exp = math.max(exp, tonumber(cexp))
  end
end
local value = string.format('%d:%d', nb, exp)
redis.call('SET', KEYS[1], value, 'EXAT', exp)
redis.call('PUBLISH', ARGV[5], cjson.encode({k = ARGV[1], id = ARGV[2], v = value}))
return value
"""


@dataclass(frozen=True)
class _Entry:
    kind: Kind
    ident: str
    not_before: int
    expires_at: int

    def merged(self, other: _Entry | None) -> _Entry:
        if other is None:
            return self
        return _Entry(
            self.kind,
            self.ident,
            max(self.not_before, other.not_before),
            max(self.expires_at, other.expires_at),
        )


def _parse_value(value: str) -> tuple[int, int]:
    not_before, sep, expires_at = value.partition(":")
    if not sep:
        raise ValueError(f"bad revocation value {value!r}")
    return int(not_before), int(expires_at)


def _covers(remote: _Entry | None, local: _Entry) -> bool:
    """True if what Redis holds already revokes at least as much, for as long, as ``local``."""
    return remote is not None and local.merged(remote) == remote


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class RedisRevocationStore:
    """The list in local memory, kept in sync with Redis by a daemon thread (see module doc)."""

    def __init__(
        self,
        settings: RevocationSettings,
        *,
        clock: Clock = time.time,
        initial_wait: float | None = None,
        heartbeat: float = HEARTBEAT_INTERVAL,
    ) -> None:
        if not settings.redis_url:
            raise ValueError("the redis revocation store needs a redis_url")
        self._prefix = settings.key_prefix
        self._channel = settings.key_prefix + "events"
        self._max_staleness = settings.max_staleness
        self._lifetime = EntryLifetime.for_settings(settings, shared=True)
        self._confirmed = -math.inf  # time.monotonic() when the copy was last known current
        self._timeout = settings.redis_timeout
        self._heartbeat = heartbeat
        self._heartbeat_timeout = max(self._timeout, MIN_HEARTBEAT_TIMEOUT)
        self._clock = clock
        self._list = RevocationList(clock=clock)
        self._claims = LocalClaims(clock=clock)
        # Writes may retry once on a dropped connection (they are idempotent); the subscriber
        # never retries, so a reconnect always goes through a full reload.
        self._writer = self._client(settings.redis_url, retries=1)
        self._subscriber = self._client(settings.redis_url, retries=0)
        self._script = self._writer.register_script(_WRITE_SCRIPT)
        self._state = threading.Condition()
        self._synced = False
        self._pending: dict[tuple[str, str], _Entry] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="loginsite-revocation-sync", daemon=True
        )
        self._thread.start()
        wait = self._timeout if initial_wait is None else initial_wait
        if wait > 0:
            self.wait_until_synced(wait)

    def _client(self, url: str, *, retries: int) -> redis.Redis:
        return redis.Redis.from_url(
            url,
            socket_timeout=self._timeout,
            socket_connect_timeout=self._timeout,
            decode_responses=True,
            # RESP2: with RESP3 (redis-py 8's default) the subscription's PONG comes back as a
            # plain string that redis-py's pub/sub parser turns into a message of type "P",
            # so the heartbeat never saw an answer and the sync kept failing closed.
            protocol=2,
            retry=Retry(NoBackoff(), retries, supported_errors=(RedisConnectionError,)),
        )

    # -- the RevocationStore interface -------------------------------------------------------

    def is_revoked(self, session_id: str, sub: str, signed_in_at: int) -> bool:
        if time.monotonic() - self._confirmed > self._max_staleness:
            raise RevocationUnavailable("the revocation list is too far behind Redis")
        return self._list.is_revoked(session_id, sub, signed_in_at)

    def status(self) -> RevocationStatus:
        staleness = time.monotonic() - self._confirmed
        return RevocationStatus(
            ready=staleness <= self._max_staleness,
            synced=self._synced,
            staleness=staleness,
            pending_writes=self.pending_writes,
            journal_depth=0,
            entries=len(self._list),
        )

    def revoke_session(self, session_id: str, expires_at: int) -> None:
        self._revoke(_Entry("jti", session_id, 0, int(expires_at)))

    def revoke_user(self, sub: str, not_before: int, expires_at: int) -> None:
        self._revoke(_Entry("sub", sub, int(not_before), int(expires_at)))

    def claim_once(self, key: str, expires_at: int) -> bool:
        """``SET <prefix>once:<key> NX EXAT``, after a local check so a replay to this process
        costs no round trip. Without Redis it answers from the local claims (see the
        interface). The value is unique to this claim, so a write retried after a dropped
        connection still recognises its own first claim instead of calling it a replay."""
        if not self._claims.claim_once(key, expires_at):
            return False
        if expires_at <= self._clock():
            return True
        token = secrets.token_hex(8)
        redis_key = self._key("once", key)
        try:
            if self._writer.set(redis_key, token, nx=True, exat=int(expires_at)):
                return True
            return self._writer.get(redis_key) == token
        except RedisError as exc:
            log.warning("one-time claim checked in this process only, Redis unreachable: %s", exc)
            return True

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._timeout + 1.0)
        with self._state:
            self._synced = False
            self._confirmed = -math.inf
            lost = len(self._pending)
            self._state.notify_all()
        if lost:
            log.warning(
                "revocation store closed with %d revocation(s) never written to Redis: "
                "other servers will not know them",
                lost,
            )
        self._writer.close()
        self._subscriber.close()

    # -- state for callers, tests and health checks -----------------------------------------

    @property
    def synced(self) -> bool:
        """True while the local copy is known to be current with Redis."""
        return self._synced

    @property
    def pending_writes(self) -> int:
        """Revocations recorded here but not yet written to Redis."""
        with self._state:
            return len(self._pending)

    def wait_until_synced(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the sync to be healthy; True if it is."""
        with self._state:
            return self._state.wait_for(lambda: self._synced or self._stop.is_set(), timeout) and (
                self._synced
            )

    def wait_until_written(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until no revocation is waiting for Redis."""
        with self._state:
            return self._state.wait_for(lambda: not self._pending, timeout)

    # -- writing -------------------------------------------------------------------------------

    def _revoke(self, entry: _Entry) -> None:
        if entry.expires_at <= self._clock():
            return  # the token is past its deadline already: nothing to remember
        self._add_local(self._with_lifetime(entry))
        reason: object = "not connected to Redis"
        if self._synced:
            try:
                self._write(entry)
                return
            except Exception as exc:  # a sign-out must never fail because of Redis
                reason = exc
        with self._state:
            key = (entry.kind, entry.ident)
            self._pending[key] = entry.merged(self._pending.get(key))
        log.warning(
            "revocation (%s) recorded in this process only, queued for Redis: %s",
            entry.kind,
            reason,
        )

    def _key(self, kind: str, ident: str) -> str:
        return f"{self._prefix}{kind}:{ident}"

    def _with_lifetime(self, entry: _Entry) -> _Entry:
        """``entry`` (whose expiry is its deadline) as it is stored now: lifetime from now."""
        expires_at = self._lifetime.expires_at(entry.expires_at, self._clock())
        return _Entry(entry.kind, entry.ident, entry.not_before, expires_at)

    def _write(self, entry: _Entry) -> None:
        stored = self._with_lifetime(entry)
        self._script(
            keys=[self._key(stored.kind, stored.ident)],
            args=[stored.kind, stored.ident, stored.not_before, stored.expires_at, self._channel],
            client=self._writer,
        )

    def _add_local(self, entry: _Entry) -> None:
        if entry.kind == "jti":
            self._list.add_session(entry.ident, entry.expires_at)
        else:
            self._list.add_user(entry.ident, entry.not_before, entry.expires_at)

    def _flush_pending(self) -> None:
        with self._state:
            queued = list(self._pending.values())
        for entry in queued:
            # Until it reaches Redis, an entry's lifetime has not started: keep it alive here.
            self._add_local(self._with_lifetime(entry))
        for entry in queued:
            if entry.expires_at > self._clock():
                self._write(entry)  # raises on trouble: the sync starts over
            with self._state:
                key = (entry.kind, entry.ident)
                if self._pending.get(key) == entry:
                    del self._pending[key]
                self._state.notify_all()
        if queued:
            log.info("wrote %d queued revocation(s) to Redis", len(queued))

    # -- the sync thread ---------------------------------------------------------------------

    def _set_synced(self, synced: bool, confirmed: float | None = None) -> None:
        with self._state:
            self._synced = synced
            if confirmed is not None:
                self._confirmed = confirmed
            self._state.notify_all()

    def _run(self) -> None:
        backoff = MIN_BACKOFF
        ever_synced = False
        warned = False
        while not self._stop.is_set():
            pubsub = self._subscriber.pubsub()
            try:
                started = time.monotonic()
                self._subscribe(pubsub)
                self._flush_pending()
                self._load_and_repair()
                self._set_synced(True, confirmed=started)
                if warned:
                    log.warning("revocation sync with Redis is back")
                elif not ever_synced:
                    log.info("revocation list loaded from Redis (%d entries)", len(self._list))
                ever_synced, warned, backoff = True, False, MIN_BACKOFF
                self._listen(pubsub)
            except Exception as exc:
                self._set_synced(False)
                if self._stop.is_set():
                    break
                if not warned:
                    warned = True
                    log.warning(
                        "revocation sync with Redis is broken (%s); retrying, answering from "
                        "the last synced list for up to %gs",
                        exc if isinstance(exc, RedisError) else repr(exc),
                        self._max_staleness,
                        exc_info=not isinstance(exc, RedisError),
                    )
            finally:
                with contextlib.suppress(Exception):  # already broken: nothing else to release
                    pubsub.close()
            with self._state:
                queued = list(self._pending.values())
            for entry in queued:  # not in Redis yet, so its lifetime has not started
                self._add_local(self._with_lifetime(entry))
            self._stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
        self._set_synced(False)

    def _subscribe(self, pubsub: Any) -> None:
        pubsub.subscribe(self._channel)
        deadline = time.monotonic() + self._timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RedisTimeoutError("no confirmation of the SUBSCRIBE")
            message = pubsub.get_message(timeout=remaining)
            if message is not None and message["type"] == "subscribe":
                return

    def _load_and_repair(self) -> None:
        remote: dict[tuple[str, str], _Entry] = {}
        batch: list[str] = []
        for key in self._writer.scan_iter(match=_glob_escape(self._prefix) + "*", count=SCAN_BATCH):
            batch.append(key)
            if len(batch) >= SCAN_BATCH:
                self._load_batch(batch, remote)
                batch = []
        if batch:
            self._load_batch(batch, remote)
        for entry in remote.values():
            self._add_local(entry)
        # Whatever this process knows and Redis does not (Redis lost its data): write it back.
        local = [_Entry("jti", k, 0, exp) for k, exp in self._list.sessions().items()]
        local += [_Entry("sub", k, nb, exp) for k, (nb, exp) in self._list.users().items()]
        missing = [e for e in local if not _covers(remote.get((e.kind, e.ident)), e)]
        for entry in missing:
            self._write(entry)
        if missing:
            log.warning("re-wrote %d revocation(s) that Redis did not have", len(missing))

    def _load_batch(self, keys: list[str], into: dict[tuple[str, str], _Entry]) -> None:
        for key, value in zip(keys, self._writer.mget(keys), strict=True):
            entry = self._entry_from(key[len(self._prefix) :], value)
            if entry is not None:
                into[(entry.kind, entry.ident)] = entry

    def _entry_from(self, name: str, value: str | None) -> _Entry | None:
        kind, sep, ident = name.partition(":")
        if value is None or not sep or kind not in ("jti", "sub"):
            return None
        try:
            not_before, expires_at = _parse_value(value)
        except ValueError:
            log.warning("ignoring a malformed revocation entry in Redis")
            return None
        return _Entry(kind, ident, not_before, expires_at)  # type: ignore[arg-type]

    def _listen(self, pubsub: Any) -> None:
        ping_sent: float | None = None
        next_ping = time.monotonic() + self._heartbeat
        while not self._stop.is_set():
            message = pubsub.get_message(timeout=POLL_INTERVAL)
            now = time.monotonic()
            if message is not None and self._handle(message):
                if ping_sent is not None:
                    self._confirmed = ping_sent
                ping_sent, next_ping = None, now + self._heartbeat
            if ping_sent is not None and now - ping_sent > self._heartbeat_timeout:
                # Under CPU load this thread may not have run for a while (the GIL): the answer
                # can be waiting in the socket. Only an answer that never arrived is an outage.
                if not self._drain(pubsub):
                    raise RedisTimeoutError("no answer to the subscription's PING")
                self._confirmed = ping_sent
                ping_sent, next_ping = None, time.monotonic() + self._heartbeat
            if ping_sent is None and now >= next_ping:
                pubsub.ping()
                ping_sent = now
            if self._pending:
                self._flush_pending()

    def _handle(self, message: dict[str, Any]) -> bool:
        """Apply a revocation event; True if the message was the answer to our PING."""
        if message["type"] == "message":
            self._apply(message["data"])
        return message["type"] == "pong"

    def _drain(self, pubsub: Any) -> bool:
        """Handle every message already received, without waiting; True if a PONG was among them."""
        pong = False
        while (message := pubsub.get_message(timeout=0)) is not None:
            pong = self._handle(message) or pong
        return pong

    def _apply(self, data: str) -> None:
        try:
            event = json.loads(data)
            entry = self._entry_from(f"{event['k']}:{event['id']}", event["v"])
        except (ValueError, KeyError, TypeError):
            entry = None
        if entry is None:
            log.warning("ignoring a malformed revocation event")
            return
        self._add_local(entry)
