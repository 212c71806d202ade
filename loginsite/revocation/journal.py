"""The durable local journal: revocations acknowledged here that Redis may not hold yet.

A sign-out is acknowledged to the user only once it is recorded somewhere that survives this
process: the journal, a small SQLite database (stdlib ``sqlite3``), is written before
``revoke_*`` returns. WAL with ``synchronous=NORMAL``: a commit survives the process being
killed (``kill -9``, a crash), not a power loss of the host before SQLite's next checkpoint;
an fsync per sign-out would cap a process at a few dozen sign-outs a second on a busy disk.
The store's writer deletes a row once Redis holds the entry, and replays every row on start
and after each reconnect, so a revocation survives ``kill -9`` of the process while Redis is
down. Several processes on one host may share one
journal: each replays what it finds, which is harmless (entries merge).

A row keeps the entry's *deadline*, not an expiry: its lifetime starts when it reaches Redis.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["jti", "sub"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    kind TEXT NOT NULL,
    ident TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    PRIMARY KEY (kind, ident)
)
"""


class JournalError(Exception):
    """The journal could not record or read an entry (disk full, unwritable path...)."""


@dataclass(frozen=True)
class PendingEntry:
    """A revocation waiting for Redis: ``deadline`` caps its lifetime once it is stored."""

    kind: Kind
    ident: str
    not_before: int
    deadline: int


class RevocationJournal:
    """Thread-safe (one connection under a lock); every call is one short transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                path, timeout=5.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open the revocation journal {path}: {exc}") from None
        self._lock = threading.Lock()

    def record(self, entry: PendingEntry) -> None:
        """Durable when this returns (the larger not-before and deadline win)."""
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO pending VALUES (?, ?, ?, ?) ON CONFLICT (kind, ident) DO UPDATE "
                    "SET not_before = max(not_before, excluded.not_before), "
                    "deadline = max(deadline, excluded.deadline)",
                    (entry.kind, entry.ident, entry.not_before, entry.deadline),
                )
        except sqlite3.Error as exc:
            raise JournalError(f"cannot write the revocation journal {self.path}: {exc}") from None

    def pending(self, now: float) -> list[PendingEntry]:
        """Every entry still waiting, after dropping those past their deadline."""
        try:
            with self._lock:
                self._db.execute("DELETE FROM pending WHERE deadline <= ?", (int(now),))
                rows = self._db.execute(
                    "SELECT kind, ident, not_before, deadline FROM pending"
                ).fetchall()
        except sqlite3.Error as exc:
            raise JournalError(f"cannot read the revocation journal {self.path}: {exc}") from None
        return [PendingEntry(*row) for row in rows]

    def remove(self, entries: list[PendingEntry]) -> None:
        """Forget entries Redis now holds; a row revoked again meanwhile (a later not-before or
        deadline) stays for the next write."""
        try:
            with self._lock:
                self._db.execute("BEGIN")
                try:
                    self._db.executemany(
                        "DELETE FROM pending WHERE kind = ? AND ident = ? AND not_before <= ? "
                        "AND deadline <= ?",
                        [(e.kind, e.ident, e.not_before, e.deadline) for e in entries],
                    )
                except sqlite3.Error:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise JournalError(f"cannot update the revocation journal {self.path}: {exc}") from None

    def __len__(self) -> int:
        try:
            with self._lock:
                return int(self._db.execute("SELECT count(*) FROM pending").fetchone()[0])
        except sqlite3.Error:
            return 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
