"""Single flight and the short memory of failures, without HTTP."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from loginsite.oidc import ProviderBusy, ProviderTimeout, ProviderUnavailable
from loginsite.oidc._http import ProviderGate
from loginsite.oidc.single_flight import SingleFlight
from tests.plugins.clock import FakeClock


def test_concurrent_callers_share_one_fetch() -> None:
    gate = ProviderGate(8)
    flight: SingleFlight[str] = SingleFlight(what="doc", wait_limit=5, gate=gate)
    release, calls = threading.Event(), []

    def fetch() -> str:
        calls.append(1)
        release.wait(5)
        return "document"

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(flight.run, "k", fetch) for _ in range(4)]
        for _ in range(1000):  # the three followers hold a slot while they wait
            if gate.in_use == 3:
                break
            threading.Event().wait(0.01)
        assert gate.in_use == 3
        release.set()
        results = [f.result() for f in futures]

    assert results == ["document"] * 4
    assert len(calls) == 1


def test_waiting_callers_are_capped_by_the_gate() -> None:
    gate = ProviderGate(1)
    flight: SingleFlight[str] = SingleFlight(what="doc", wait_limit=5, gate=gate)
    release, started = threading.Event(), threading.Event()

    def fetch() -> str:
        with gate.slot():  # as the transport does
            started.set()
            release.wait(5)
            return "document"

    with ThreadPoolExecutor(max_workers=1) as pool:
        leader = pool.submit(flight.run, "k", fetch)
        started.wait(5)
        with pytest.raises(ProviderBusy):
            flight.run("k", fetch)
        release.set()
        assert leader.result() == "document"


def test_a_failure_is_remembered_for_a_few_seconds() -> None:
    clock = FakeClock(1000.0)
    flight: SingleFlight[str] = SingleFlight(what="doc", wait_limit=5, clock=clock, failure_ttl=5)
    calls: list[int] = []

    def failing() -> str:
        calls.append(1)
        raise ProviderUnavailable("doc: connection failed")

    with pytest.raises(ProviderUnavailable):
        flight.run("k", failing)
    clock.advance(4.9)
    with pytest.raises(ProviderUnavailable, match="not retried yet"):
        flight.run("k", lambda: "never called")
    assert len(calls) == 1
    clock.advance(0.1)
    assert flight.run("k", lambda: "fresh") == "fresh"


def test_a_busy_gate_is_not_remembered_as_a_provider_failure() -> None:
    flight: SingleFlight[str] = SingleFlight(what="doc", wait_limit=5, clock=FakeClock())

    def busy() -> str:
        raise ProviderBusy("doc: not sent")

    with pytest.raises(ProviderBusy):
        flight.run("k", busy)
    assert flight.run("k", lambda: "ok") == "ok"


def test_a_follower_gives_up_after_its_wait_limit() -> None:
    flight: SingleFlight[str] = SingleFlight(what="doc", wait_limit=0.2)
    release, started = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(5)
        return "late"

    with ThreadPoolExecutor(max_workers=1) as pool:
        leader = pool.submit(flight.run, "k", slow)
        started.wait(5)
        with pytest.raises(ProviderTimeout, match="still waiting"):
            flight.run("k", slow)
        release.set()
        assert leader.result() == "late"
