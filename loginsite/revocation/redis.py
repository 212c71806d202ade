"""A revocation list shared by every server through a Redis stream, answered from local memory.

Every process keeps the live list in memory (it is small: only sessions that ended early, for
their idle-bound lifetime), so :meth:`RedisRevocationStore.is_revoked` never touches the network.

**Data model.** One stream, ``<prefix>stream``: each revocation is one ``XADD`` (field ``r``,
value ``v1 <kind> <not_before> <expires_at> <kid> <mac> <id>``), trimmed with ``MINID`` to the
entry lifetime, so the stream holds about one lifetime of sign-outs. ``<prefix>epoch`` holds a
random value set once (``SET NX``): if it changes or vanishes, or the stream's last id goes
backwards, Redis lost data. The MAC is HMAC-SHA256 keyed from the session key ring, so an entry
that someone with write access to Redis forged (a far-future not-before that would lock a user
out, say) is ignored and logged like any other malformed entry.

**Reading** (thread ``loginsite-revocation-sync``). At a cold start it reads the whole stream
(``XRANGE`` in batches), then follows it with ``XREAD BLOCK`` from the last id it saw. After a
dropped connection it resumes from that id: no reload. Only when Redis lost data does it read
the whole stream again and then *repair* it, writing back the live entries it holds that Redis
lacks: entries this process made itself or read from the stream (with a valid MAC), since
nothing else ever enters the local list. Garbage in the stream is logged and skipped.

**Staleness.** Each ``XREAD`` that returns with less than a full batch proves the copy was
current when it was sent. :meth:`~RedisRevocationStore.is_revoked` answers while that proof is at
most ``max_staleness`` seconds old, then raises :class:`RevocationUnavailable` (pages that need
sign-in answer 503, cookies are kept) until the sync is back. A store that never synced is
infinitely stale.

**Writing** (thread ``loginsite-revocation-write``, so a failing write never holds up reading).
``revoke_*`` applies the entry locally at once, records it in the durable journal
(:mod:`loginsite.revocation.journal`) and returns; the writer ``XADD``\\ s it, then (with
``wait_replicas``) ``WAIT``\\ s up to ``redis_timeout`` for that many replicas (best effort: a
warning if fewer answer), and only then deletes the journal row. Rows are
replayed on start and retried with backoff; while an entry waits, its local copy is kept alive
(its lifetime starts when it reaches Redis). With Sentinel, a ``READONLY`` answer or a role
check that finds a replica sends both threads back to the Sentinels for the current master.
Every Redis call is bounded by ``redis_timeout`` (a read by that plus the block time).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
from collections.abc import Iterable
from typing import Any, NamedTuple

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.retry import Retry
from redis.sentinel import Sentinel

from loginsite.revocation.journal import (
    JournalError,
    Kind,
    PendingEntry,
    RevocationJournal,
)
from loginsite.revocation.lifetime import EntryLifetime
from loginsite.revocation.store import (
    Clock,
    LocalClaims,
    RevocationList,
    RevocationStatus,
    RevocationUnavailable,
)
from loginsite.settings import RevocationSettings, SessionKey, signing_key_of

log = logging.getLogger(__name__)

MIN_BACKOFF = 0.1
MAX_BACKOFF = 2.0
#: How long one XREAD waits for news: also how stale a healthy copy can look.
READ_BLOCK = 1.0
READ_BATCH = 10_000
WRITE_BATCH = 1_000
#: How often the sync looks at the epoch and (with Sentinel) the node's role.
CHECK_INTERVAL = 5.0
#: How often the writer looks for journal rows it did not make (a sibling process's).
JOURNAL_POLL = 1.0
_FORMAT = "v1"
_MAC_CONTEXT = b"loginsite revocation entry v1"


class DataLost(RedisError):
    """Redis no longer holds what this instance read from it (restart, failover, flush)."""


class NotPrimary(RedisError):
    """The node answering is a replica: with Sentinel, go and find the current master."""


class StoredEntry(NamedTuple):
    """An entry as the stream holds it: with its expiry, fixed when it reached Redis."""

    kind: Kind
    ident: str
    not_before: int
    expires_at: int

    def covers(self, other: StoredEntry) -> bool:
        return self.not_before >= other.not_before and self.expires_at >= other.expires_at


class EntryCodec:
    """The wire format of a stream entry, ``<kid> <mac> v1 <kind> <not_before> <expires_at>
    <id>``, authenticated by a MAC keyed from the key ring (and the key prefix)."""

    def __init__(self, keys: Iterable[SessionKey], prefix: str) -> None:
        ring = tuple(keys)
        if not ring:
            raise ValueError("the redis revocation store needs the session key ring (mac_keys)")
        # A key of its own for each session key and prefix (never the session key itself). The
        # ring's signing key MACs new entries; every key, verify-only ones included, checks them,
        # so instances at neighbouring stages of a key rotation read each other's entries.
        context = _MAC_CONTEXT + b" " + prefix.encode()
        self._keys = {
            k.kid.encode(): hmac.new(k.secret, context, hashlib.sha256).digest() for k in ring
        }
        self._kid = signing_key_of(ring).kid.encode()

    @staticmethod
    def _mac(key: bytes, body: bytes) -> bytes:
        """Keyed BLAKE2b: a MAC by design, and cheaper than HMAC-SHA256, which matters when a
        cold start reads 100k entries."""
        return hashlib.blake2b(body, key=key, digest_size=16).hexdigest().encode()

    def encode(self, entry: StoredEntry) -> bytes:
        body = (
            f"{_FORMAT} {entry.kind} {entry.not_before} {entry.expires_at} {entry.ident}".encode()
        )
        return self._kid + b" " + self._mac(self._keys[self._kid], body) + b" " + body

    def decode(self, raw: object) -> StoredEntry | None:
        """The entry, or None for anything malformed or unauthenticated (never raises)."""
        if not isinstance(raw, bytes) or len(raw) > 2048:
            return None
        parts = raw.split(b" ", 2)
        if len(parts) != 3:
            return None
        kid, mac, body = parts
        key = self._keys.get(kid)
        if key is None or not hmac.compare_digest(self._mac(key, body), mac):
            return None
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return None
        fields = text.split(" ", 4)
        if len(fields) != 5 or fields[0] != _FORMAT or fields[1] not in ("jti", "sub"):
            return None
        _, kind, not_before, expires_at, ident = fields
        if not (not_before.isdigit() and expires_at.isdigit()) or not ident:
            return None
        if len(not_before) > 12 or len(expires_at) > 12:
            return None
        return StoredEntry(kind, ident, int(not_before), int(expires_at))  # type: ignore[arg-type]


def _raw_reply(response: Any, **options: Any) -> Any:
    """The reply as hiredis parsed it: no dict per stream entry (a cold start reads 100k)."""
    return response


def _field(fields: Any) -> object:
    """The ``r`` value of a stream entry's field list, or None."""
    if isinstance(fields, list):
        if len(fields) == 2 and fields[0] == b"r":
            return fields[1]
        for name, value in zip(fields[::2], fields[1::2], strict=False):
            if name == b"r":
                return value
        return None
    return fields.get(b"r") if isinstance(fields, dict) else None


def _merged(entry: PendingEntry, other: PendingEntry | None) -> PendingEntry:
    if other is None:
        return entry
    return PendingEntry(
        entry.kind,
        entry.ident,
        max(entry.not_before, other.not_before),
        max(entry.deadline, other.deadline),
    )


def _stream_id(raw: bytes | str) -> tuple[int, int]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class RedisRevocationStore:
    """The list in local memory, kept in sync with a Redis stream (see the module doc)."""

    def __init__(
        self,
        settings: RevocationSettings,
        *,
        clock: Clock = time.time,
        initial_wait: float | None = None,
        heartbeat: float = READ_BLOCK,
        use_journal: bool = True,
    ) -> None:
        if not settings.redis_url and not settings.sentinels:
            raise ValueError("the redis revocation store needs a redis_url or sentinels")
        self._settings = settings
        self._codec = EntryCodec(settings.mac_keys, settings.key_prefix)
        self._stream = (settings.key_prefix + "stream").encode()
        self._epoch_key = settings.key_prefix + "epoch"
        self._prefix = settings.key_prefix
        self._timeout = settings.redis_timeout
        self._max_staleness = settings.max_staleness
        self._heartbeat = heartbeat
        self._lifetime = EntryLifetime.for_settings(settings, shared=True)
        self._clock = clock
        self._list = RevocationList(clock=clock)
        self._claims = LocalClaims(clock=clock)
        self._sentinel = bool(settings.sentinels)
        self._on_replica = False
        # With wait_replicas, WAIT itself may take up to redis_timeout: the socket waits longer.
        self._writer = self._client(
            retries=1, read_block=self._timeout if settings.wait_replicas else 0.0
        )
        self._reader = self._client(retries=0, read_block=heartbeat)
        for command in ("XRANGE", "XREAD"):
            self._reader.set_response_callback(command, _raw_reply)
        self._journal = RevocationJournal(settings.journal) if use_journal else None
        # Entries the writer has not written yet (journaled too, unless use_journal is False).
        self._queue: dict[tuple[str, str], PendingEntry] = {}
        self._state = threading.Condition()
        self._confirmed = -math.inf  # time.monotonic() when the copy was last known current
        self._synced = False
        self._last_id: bytes | None = None
        self._epoch: bytes | None = None
        self._full_loads = 0
        self._reconnects = 0
        self._first_attempt = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        if self._journal is not None:
            self._replay_journal_locally()
        self._reader_thread = threading.Thread(
            target=self._read_loop, name="loginsite-revocation-sync", daemon=True
        )
        self._writer_thread = threading.Thread(
            target=self._write_loop, name="loginsite-revocation-write", daemon=True
        )
        self._reader_thread.start()
        self._writer_thread.start()
        # Start-up waits for the first load (or the first failure), so a new instance is
        # current at once when Redis is there, and never fails because it is not.
        wait = self._timeout + 2.0 if initial_wait is None else initial_wait
        if wait > 0:
            self._first_attempt.wait(wait)

    def _client(self, *, retries: int, read_block: float) -> redis.Redis:
        settings = self._settings
        options: dict[str, Any] = {
            "socket_timeout": self._timeout + read_block,
            "socket_connect_timeout": self._timeout,
            # RESP2: the replies redis-py parses into plain lists and dicts everywhere.
            "protocol": 2,
            "retry": Retry(NoBackoff(), retries, supported_errors=(RedisConnectionError,)),
        }
        if settings.sentinels:
            sentinel = Sentinel(
                list(settings.sentinels),
                sentinel_kwargs={
                    "socket_timeout": self._timeout,
                    "socket_connect_timeout": self._timeout,
                    "username": settings.sentinel_username,
                    "password": settings.sentinel_password,
                    "protocol": 2,
                },
            )
            return sentinel.master_for(
                settings.sentinel_master,
                username=settings.redis_username,
                password=settings.redis_password,
                **options,
            )
        assert settings.redis_url is not None
        return redis.Redis.from_url(settings.redis_url, **options)

    # -- the RevocationStore interface -------------------------------------------------------

    def is_revoked(self, session_id: str, sub: str, signed_in_at: int) -> bool:
        if time.monotonic() - self._confirmed > self._max_staleness:
            raise RevocationUnavailable("the revocation list is too far behind Redis")
        return self._list.is_revoked(session_id, sub, signed_in_at)

    def revoke_session(self, session_id: str, expires_at: int) -> None:
        self._revoke(PendingEntry("jti", session_id, 0, int(expires_at)))

    def revoke_user(self, sub: str, not_before: int, expires_at: int) -> None:
        self._revoke(PendingEntry("sub", sub, int(not_before), int(expires_at)))

    def status(self) -> RevocationStatus:
        staleness = time.monotonic() - self._confirmed
        depth = len(self._journal) if self._journal is not None else 0
        with self._state:
            queued = len(self._queue)
        return RevocationStatus(
            ready=staleness <= self._max_staleness,
            synced=self._synced,
            staleness=staleness,
            pending_writes=max(depth, queued),
            journal_depth=depth,
            entries=len(self._list),
            full_loads=self._full_loads,
            reconnects=self._reconnects,
        )

    def claim_once(self, key: str, expires_at: int) -> bool:
        """``SET <prefix>once:<key> NX EXAT``, after a local check so a replay to this process
        costs no round trip. Without Redis it answers from the local claims (see the
        interface). The value is unique to this claim, so a write retried after a dropped
        connection still recognises its own first claim instead of calling it a replay."""
        if not self._claims.claim_once(key, expires_at):
            return False
        if expires_at <= self._clock():
            return True
        token = secrets.token_hex(8).encode()
        redis_key = f"{self._prefix}once:{key}"
        try:
            if self._writer.set(redis_key, token, nx=True, exat=int(expires_at)):
                return True
            return self._writer.get(redis_key) == token
        except RedisError as exc:
            log.warning("one-time claim checked in this process only, Redis unreachable: %s", exc)
            return True

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._reader_thread.join(timeout=self._timeout + self._heartbeat + 1.0)
        self._writer_thread.join(timeout=self._timeout + 1.0)
        with self._state:
            self._synced = False
            self._confirmed = -math.inf
            lost = len(self._queue)
            self._state.notify_all()
        if self._journal is not None:
            left = len(self._journal)
            if left:
                log.warning(
                    "revocation store closed with %d revocation(s) not yet in Redis: they stay "
                    "in the journal %s and are written at the next start",
                    left,
                    self._journal.path,
                )
            self._journal.close()
        if lost:
            log.warning(
                "revocation store closed with %d revocation(s) never written to Redis: "
                "other servers will not know them",
                lost,
            )
        self._writer.close()
        self._reader.close()

    # -- state for callers, tests and health checks -----------------------------------------

    @property
    def synced(self) -> bool:
        """True while the sync follows the stream (the copy is current)."""
        return self._synced

    @property
    def pending_writes(self) -> int:
        """Revocations recorded here but not yet written to Redis."""
        return self.status().pending_writes

    def wait_until_synced(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the sync to be healthy; True if it is."""
        with self._state:
            return self._state.wait_for(lambda: self._synced or self._stop.is_set(), timeout) and (
                self._synced
            )

    def wait_until_written(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until no revocation made here is waiting for Redis."""
        deadline = time.monotonic() + timeout
        while self.pending_writes:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._wake.set()
            with self._state:
                self._state.wait(min(remaining, 0.05))
        return True

    # -- writing -------------------------------------------------------------------------------

    def _add_local(self, kind: str, ident: str, not_before: int, expires_at: int) -> None:
        if kind == "jti":
            self._list.add_session(ident, expires_at)
        else:
            self._list.add_user(ident, not_before, expires_at)

    def _keep_alive(self, entries: Iterable[PendingEntry]) -> None:
        """An entry not yet in Redis has not started its lifetime: keep it live here."""
        now = self._clock()
        for entry in entries:
            until = self._lifetime.expires_at(entry.deadline, now)
            self._add_local(entry.kind, entry.ident, entry.not_before, until)

    def _revoke(self, entry: PendingEntry) -> None:
        if entry.deadline <= self._clock():
            return  # the token is past its deadline already: nothing to remember
        self._keep_alive([entry])
        # Queued for the writer first, so the write to Redis need not wait for the journal's
        # disk write; the journal makes it durable before this returns.
        with self._state:
            key = (entry.kind, entry.ident)
            self._queue[key] = _merged(entry, self._queue.get(key))
        self._wake.set()
        if self._journal is not None:
            try:
                self._journal.record(entry)
            except JournalError as exc:
                self._write_through(entry, exc)

    def _write_through(self, entry: PendingEntry, journal_error: JournalError) -> None:
        """The journal failed: the revocation is durable only if Redis takes it now."""
        try:
            self._write([entry])
        except RedisError as exc:
            log.error("revocation lost: %s, and Redis is unreachable (%s)", journal_error, exc)
            raise RevocationUnavailable("the revocation could not be recorded") from exc
        log.error("%s; the revocation went straight to Redis", journal_error)

    def _pending(self) -> list[PendingEntry]:
        """The journal's rows and this process's queue, one entry per key."""
        now = self._clock()
        merged: dict[tuple[str, str], PendingEntry] = {}
        if self._journal is not None:
            for entry in self._journal.pending(now):
                merged[(entry.kind, entry.ident)] = entry
        with self._state:
            for key in [k for k, e in self._queue.items() if e.deadline <= now]:
                del self._queue[key]
            for key, entry in self._queue.items():
                merged[key] = _merged(entry, merged.get(key))
        return list(merged.values())

    def _done(self, entries: list[PendingEntry]) -> None:
        if self._journal is not None:
            self._journal.remove(entries)
        with self._state:
            for entry in entries:
                key = (entry.kind, entry.ident)
                if self._queue.get(key) == entry:
                    del self._queue[key]
            self._state.notify_all()

    def _write(self, entries: list[PendingEntry]) -> None:
        """XADD the entries with their lifetime from now (they reach Redis now)."""
        now = self._clock()
        stored = [
            StoredEntry(e.kind, e.ident, e.not_before, self._lifetime.expires_at(e.deadline, now))
            for e in entries
        ]
        self._append(stored, now)

    def _append(self, stored: list[StoredEntry], now: float) -> None:
        # Entries older than a lifetime (plus skew: the id is Redis's clock) have all expired.
        horizon = now - self._lifetime.seconds - self._settings.clock_skew
        min_id = max(0, int(horizon * 1000))
        pipe = self._writer.pipeline(transaction=False)
        pipe.set(self._epoch_key, secrets.token_hex(8), nx=True)
        for entry in stored:
            pipe.xadd(self._stream, {b"r": self._codec.encode(entry)}, minid=min_id)
        wait = self._settings.wait_replicas
        if wait:
            pipe.wait(wait, int(self._timeout * 1000))
        results = pipe.execute()
        if wait and results[-1] < wait:
            # Best effort: the master holds the entries. Retrying would only add copies while
            # no replica is there; a failover that loses them is repaired from local copies.
            log.warning(
                "%d of %d replica(s) acknowledged %d revocation(s) within %gs",
                results[-1],
                wait,
                len(stored),
                self._timeout,
            )
        for entry in stored:  # the lifetime that started now, if longer than the local one
            self._add_local(entry.kind, entry.ident, entry.not_before, entry.expires_at)

    def _write_loop(self) -> None:
        backoff = MIN_BACKOFF
        failing = False
        while not self._stop.is_set():
            self._wake.wait(backoff if failing else JOURNAL_POLL)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                pending = self._pending()
                if not pending:
                    failing = False
                    continue
                self._keep_alive(pending)
                for start in range(0, len(pending), WRITE_BATCH):
                    batch = pending[start : start + WRITE_BATCH]
                    self._write(batch)
                    self._done(batch)
                if failing:
                    log.warning("wrote %d queued revocation(s) to Redis", len(pending))
                failing, backoff = False, MIN_BACKOFF
            except (RedisError, JournalError) as exc:
                if not failing:
                    log.warning(
                        "revocation(s) kept in the journal, not yet in Redis (%s); retrying", exc
                    )
                else:
                    log.debug("revocation write still failing: %r", exc)
                failing = True
                if isinstance(exc, RedisError):
                    self._drop_connections(self._writer)
                backoff = min(backoff * 2, MAX_BACKOFF)

    def _replay_journal_locally(self) -> None:
        assert self._journal is not None
        try:
            pending = self._journal.pending(self._clock())
        except JournalError as exc:
            log.error("%s", exc)
            return
        self._keep_alive(pending)
        if pending:
            log.warning(
                "replaying %d revocation(s) from the journal %s", len(pending), self._journal.path
            )

    # -- reading -------------------------------------------------------------------------------

    def _drop_connections(self, client: redis.Redis) -> None:
        """After an error: with Sentinel, the next connection asks for the current master."""
        with contextlib.suppress(Exception):
            client.connection_pool.disconnect()

    def _set_synced(self, synced: bool, confirmed: float | None = None) -> None:
        with self._state:
            self._synced = synced
            if confirmed is not None:
                self._confirmed = max(self._confirmed, confirmed)
            self._state.notify_all()

    def _read_loop(self) -> None:
        backoff = MIN_BACKOFF
        broken = False
        caught_up = 0
        while not self._stop.is_set():
            try:
                self._catch_up()
                caught_up += 1
                self._reconnects = caught_up - 1
                self._first_attempt.set()
                if broken:
                    log.warning("revocation sync with Redis is back")
                broken, backoff = False, MIN_BACKOFF
                self._follow()
            except Exception as exc:
                self._set_synced(False)
                self._first_attempt.set()
                if self._stop.is_set():
                    break
                self._drop_connections(self._reader)
                if not broken:
                    broken = True
                    log.warning(
                        "revocation sync with Redis is broken (%s); retrying, answering from "
                        "the last synced list for up to %gs",
                        exc if isinstance(exc, RedisError) else repr(exc),
                        self._max_staleness,
                        exc_info=not isinstance(exc, RedisError),
                    )
                else:
                    log.debug("revocation sync still broken: %r", exc)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
        self._set_synced(False)

    def _current_epoch(self) -> bytes:
        epoch = self._reader.get(self._epoch_key)
        if epoch is None:
            self._writer.set(self._epoch_key, secrets.token_hex(8), nx=True)
            epoch = self._reader.get(self._epoch_key)
        if epoch is None:
            raise DataLost("the epoch key vanished at once")
        return epoch

    def _last_generated(self) -> tuple[int, int]:
        try:
            info = self._reader.xinfo_stream(self._stream)
        except redis.ResponseError as exc:
            if "no such key" in str(exc).lower():
                return (0, 0)
            raise
        return _stream_id(info["last-generated-id"])

    def _check_role(self) -> None:
        role = self._reader.execute_command("ROLE")
        replica = bool(role) and role[0] not in (b"master", "master")
        if replica and self._sentinel:
            raise NotPrimary("the node is a replica now: asking the Sentinels again")
        if replica and not self._on_replica:
            log.warning(
                "loginsite.revocation.redis_url points at a replica: reading works, "
                "revocations stay in the journal until it is a master again (use Sentinel)"
            )
        self._on_replica = replica

    def _catch_up(self) -> None:
        """(Re)connect: resume from the last id, or load everything (cold start, data lost)."""
        started = time.monotonic()
        self._check_role()
        epoch = self._current_epoch()
        last_generated = self._last_generated()
        if self._last_id is None:
            self._full_load(started, keep=False)
        elif epoch != self._epoch or last_generated < _stream_id(self._last_id):
            log.warning(
                "Redis lost revocation entries (restarted empty, failed over to a replica "
                "that lagged, or flushed): reading the stream again and writing back what "
                "this instance holds"
            )
            seen = self._full_load(started)
            self._repair(seen)
        self._epoch = epoch

    def _full_load(
        self, started: float, *, keep: bool = True
    ) -> dict[tuple[str, str], StoredEntry]:
        """Read the whole stream; with ``keep``, also return what it holds (for a repair)."""
        seen: dict[tuple[str, str], StoredEntry] = {}
        cursor = b"-"
        last_id = b"0-0"
        while True:
            batch = self._reader.xrange(self._stream, min=cursor, max=b"+", count=READ_BATCH)
            if batch:
                last_id = batch[-1][0]
                self._apply(batch, seen if keep else None)
            if len(batch) < READ_BATCH:
                break
            cursor = b"(" + last_id
        self._last_id = last_id
        self._full_loads += 1
        self._set_synced(True, confirmed=started)
        log.info("revocation list read from Redis (%d live entries)", len(self._list))
        return seen

    def _repair(self, seen: dict[tuple[str, str], StoredEntry]) -> None:
        """Write back live entries Redis lacks, each with the expiry it already had."""
        local = [StoredEntry("jti", k, 0, exp) for k, exp in self._list.sessions().items()]
        local += [StoredEntry("sub", k, nb, exp) for k, (nb, exp) in self._list.users().items()]
        missing = [
            e for e in local if (old := seen.get((e.kind, e.ident))) is None or not old.covers(e)
        ]
        now = self._clock()
        for start in range(0, len(missing), WRITE_BATCH):
            self._append(missing[start : start + WRITE_BATCH], now)
        if missing:
            log.warning("wrote back %d revocation(s) that Redis had lost", len(missing))

    def _follow(self) -> None:
        next_check = time.monotonic() + CHECK_INTERVAL
        block_ms = max(1, int(self._heartbeat * 1000))
        block: int | None = None  # the first read answers at once: current right after a resume
        while not self._stop.is_set():
            assert self._last_id is not None
            sent = time.monotonic()
            reply = self._reader.xread({self._stream: self._last_id}, count=READ_BATCH, block=block)
            block = block_ms
            count = 0
            for _stream, entries in reply or ():
                if entries:
                    count += len(entries)
                    self._last_id = entries[-1][0]
                    self._apply(entries, None)
            if count < READ_BATCH:
                self._set_synced(True, confirmed=sent)
            if time.monotonic() >= next_check:
                self._check_role()
                if self._current_epoch() != self._epoch:
                    raise DataLost("the epoch changed")
                next_check = time.monotonic() + CHECK_INTERVAL

    def _apply(self, entries: list[Any], seen: dict[tuple[str, str], StoredEntry] | None) -> None:
        decoded: list[StoredEntry] = []
        malformed = 0
        for item in entries:
            try:
                entry = self._codec.decode(_field(item[1]))
            except Exception:  # whatever the shape, one bad entry never stops the sync
                entry = None
            if entry is None:
                malformed += 1
            else:
                decoded.append(entry)
        self._list.add_many(
            [(e.ident, e.expires_at) for e in decoded if e.kind == "jti"],
            [(e.ident, e.not_before, e.expires_at) for e in decoded if e.kind == "sub"],
        )
        if seen is not None:
            for entry in decoded:
                key = (entry.kind, entry.ident)
                old = seen.get(key)
                if old is not None:
                    entry = StoredEntry(
                        entry.kind,
                        entry.ident,
                        max(old.not_before, entry.not_before),
                        max(old.expires_at, entry.expires_at),
                    )
                seen[key] = entry
        if malformed:
            log.warning(
                "ignored %d malformed or unauthenticated revocation entr%s in Redis",
                malformed,
                "y" if malformed == 1 else "ies",
            )
