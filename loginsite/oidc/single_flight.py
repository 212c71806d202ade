"""Collapse concurrent fetches of one provider document into one, and remember a failure briefly.

Discovery and the JWKS are fetched on demand by whichever request needs them. Without this,
a provider that hangs would hold every thread that asked at once (issue: 16 sign-ins made a
signed-in page wait 9.5 s). With it:

- while a fetch is in flight, later callers wait for its outcome instead of fetching again, and
  each waiting caller holds a slot of the :class:`~loginsite.oidc._http.ProviderGate`, so the
  number of threads held by the provider stays capped (one more is refused at once);
- a failed fetch is remembered for ``failure_ttl`` seconds: callers in that window get the same
  error at once, without touching the network, so sign-in answers "not available" immediately.
  A refusal by the gate itself (too busy) is not remembered: it says nothing about the provider.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from . import _http
from .errors import OIDCError, ProviderBusy, ProviderTimeout

__all__ = ["FAILURE_TTL", "SingleFlight"]

FAILURE_TTL = 5.0
T = TypeVar("T")


@dataclass
class _Flight(Generic[T]):
    done: threading.Event = field(default_factory=threading.Event)
    result: T | None = None
    error: OIDCError | None = None


class SingleFlight(Generic[T]):
    """One fetch per key at a time; the failure of the last one remembered for a while."""

    def __init__(
        self,
        *,
        what: str,
        wait_limit: float,
        gate: _http.ProviderGate | None = None,
        failure_ttl: float = FAILURE_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._what = what
        self._wait_limit = wait_limit
        self._gate = gate
        self._failure_ttl = failure_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight[T]] = {}
        self._failures: dict[str, tuple[OIDCError, float]] = {}

    def run(self, key: str, fetch: Callable[[], T]) -> T:
        """``fetch()``'s result, shared with every caller that asked for ``key`` meanwhile."""
        now = self._clock()
        with self._lock:
            failure = self._failures.get(key)
            if failure is not None and now - failure[1] < self._failure_ttl:
                age = now - failure[1]
                raise _remembered(failure[0], f"failed {age:.1f} s ago; not retried yet")
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if leader:
            return self._lead(key, flight, fetch)
        return self._follow(flight)

    def _lead(self, key: str, flight: _Flight[T], fetch: Callable[[], T]) -> T:
        try:
            flight.result = fetch()
        except OIDCError as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
                if flight.error is None:
                    self._failures.pop(key, None)
                elif not isinstance(flight.error, ProviderBusy):
                    self._failures[key] = (flight.error, self._clock())
            flight.done.set()
        return flight.result

    def _follow(self, flight: _Flight[T]) -> T:
        if self._gate is None:
            arrived = flight.done.wait(self._wait_limit)
        else:
            with _http.provider_call(self._what, self._wait_limit), self._gate.slot():
                arrived = flight.done.wait(self._wait_limit)
        if not arrived:
            raise ProviderTimeout(f"{self._what}: another request's fetch is still waiting")
        if flight.error is not None:
            raise _remembered(flight.error, "the outcome of a concurrent fetch")
        return flight.result  # type: ignore[return-value]


def _remembered(error: OIDCError, note: str) -> OIDCError:
    """A copy of ``error`` (each raise gets its own traceback) whose reason says it is reused."""
    clone = copy.copy(error)
    clone.reason = f"{error.reason} ({note})"
    clone.args = (clone.reason,)
    return clone
