"""How long a revocation entry must live: the idle window, not the session's max age.

The argument (also in the README's security model):

* A token is accepted only until its ``exp``, and every token is minted or renewed with
  ``exp <= issued_at + idle_timeout`` (never past the session's deadline).
* A revoked session is never renewed by an instance that knows the revocation: the policy
  checks the list before it renews.
* An instance answers only while its list is at most ``max_staleness`` seconds behind the
  shared store (past that it fails closed, and a refused session is not renewed either). So
  once an entry is in the shared store at time ``W``, every instance that renews at ``t`` holds
  it unless ``t < W + max_staleness``; the last token any instance can mint for that session
  (or, for a per-user not-before, for that user's older sessions) expires before
  ``W + max_staleness + idle_timeout``.
* Clocks differ: the renewing instance stamps ``exp`` with its clock, the checking instance
  and the writer of the entry read theirs. ``clock_skew`` covers the difference.

So an entry may expire at ``W + idle_timeout + max_staleness + clock_skew``, and never needs to
outlive the deadline of the tokens it matches. ``W`` is when the entry *reaches the shared
store*, not when it was made: an entry replayed late from the journal may meet tokens that other
instances renewed meanwhile, so it gets a fresh lifetime from the replay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from loginsite.settings import RevocationSettings


@dataclass(frozen=True)
class EntryLifetime:
    """``idle_timeout + propagation + clock_skew`` seconds from reaching the shared store."""

    idle_timeout: int
    #: How far behind the shared store an instance may be and still answer (max_staleness);
    #: 0 for a store that is its own shared store (memory).
    propagation: float
    clock_skew: int

    @classmethod
    def for_settings(cls, settings: RevocationSettings, *, shared: bool) -> EntryLifetime:
        return cls(
            idle_timeout=settings.idle_timeout,
            propagation=settings.max_staleness if shared else 0.0,
            clock_skew=settings.clock_skew,
        )

    @property
    def seconds(self) -> int:
        return math.ceil(self.idle_timeout + self.propagation + self.clock_skew)

    def expires_at(self, deadline: int, reached_store_at: float) -> int:
        """When an entry that reached the shared store at ``reached_store_at`` may be forgotten;
        never later than ``deadline``, the last moment a token it matches can be valid."""
        return min(int(deadline), math.ceil(reached_store_at) + self.seconds)
