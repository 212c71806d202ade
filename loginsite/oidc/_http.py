"""The one transport to the provider, and the one place that turns its trouble into exceptions.

:class:`ProviderTransport` is a ``requests`` transport adapter mounted on every session that
talks to the provider (the shared one for discovery and JWKS, and each sign-in's
``OAuth2Session``), so its rules hold whoever builds the request:

- every call has a timeout, which bounds connecting and each read; the body is read one network
  read at a time against a deadline of ``timeout`` from the start, so an endpoint that trickles
  its answer is cut off and a whole exchange takes at most about twice the timeout;
- at most ``MAX_BODY_BYTES`` are read, so a misbehaving endpoint cannot exhaust memory;
- redirects are never followed (a provider endpoint that redirects is misconfigured, and
  following it would send our credentials somewhere unvetted): the ``Location`` is dropped and
  the caller sees the 3xx status;
- at most ``max_concurrent`` calls are in flight at once (:class:`ProviderGate`); one more is
  refused at once as unavailable, so a provider that hangs holds only that many of the app's
  threads and signed-in users keep being served.

:func:`provider_call` maps ``requests`` exceptions to ``ProviderTimeout``/``ProviderUnavailable``/
``ProviderError`` naming the endpoint.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from .config import MAX_CONCURRENT_CALLS
from .errors import ProviderBusy, ProviderError, ProviderTimeout, ProviderUnavailable

MAX_BODY_BYTES = 1024 * 1024


class AnswerTooLarge(requests.RequestException):
    """The body grew past MAX_BODY_BYTES."""


class AnswerTooSlow(requests.Timeout):
    """The whole body did not arrive within the timeout."""


class GateFull(requests.RequestException):
    """Too many provider calls are in flight already."""


class ProviderGate:
    """A cap on the threads that may wait on the provider at once; full means refuse, not wait."""

    def __init__(self, limit: int = MAX_CONCURRENT_CALLS) -> None:
        if limit < 1:
            raise ValueError("the provider gate needs room for at least one call")
        self.limit = limit
        self._lock = threading.Lock()
        self.in_use = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._lock:
            if self.in_use >= self.limit:
                raise GateFull(f"{self.limit} provider calls already in flight")
            self.in_use += 1
        try:
            yield
        finally:
            with self._lock:
                self.in_use -= 1


class ProviderTransport(HTTPAdapter):
    """An HTTPAdapter that enforces the module's rules on every request sent through it."""

    def __init__(self, *, timeout: float, gate: ProviderGate, pool_maxsize: int = 10) -> None:
        super().__init__(pool_maxsize=pool_maxsize, max_retries=0)
        self.timeout = timeout
        self.gate = gate

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        kwargs["timeout"] = self.timeout  # ours, whatever the caller passed (None included)
        with self.gate.slot():
            deadline = time.monotonic() + self.timeout
            response = super().send(request, stream=True, **kwargs)
            try:
                body = bytearray()
                while chunk := response.raw.read1(65536, decode_content=True):
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        raise AnswerTooLarge(f"response larger than {MAX_BODY_BYTES} bytes")
                    if time.monotonic() > deadline:
                        raise AnswerTooSlow(f"the answer took longer than {self.timeout} s")
            except BaseException:
                response.close()
                raise
        response._content = bytes(body)
        response._content_consumed = True
        response.raw.release_conn()
        response.headers.pop("Location", None)  # never followed: the caller sees the 3xx
        return response


def mount(session: requests.Session, transport: ProviderTransport) -> requests.Session:
    """``session`` sending everything through ``transport`` (http too: the metadata checks
    already refuse http endpoints outside development mode). Sessions may share a transport,
    and with it the connection pool."""
    session.mount("https://", transport)
    session.mount("http://", transport)
    return session


def guarded(session: requests.Session, timeout: float) -> requests.Session:
    """``session`` itself if it already sends through a ProviderTransport, else with one mounted
    (a session handed in by a caller or a test still gets every rule of this module)."""
    if not isinstance(session.get_adapter("https://provider.invalid/"), ProviderTransport):
        mount(session, ProviderTransport(timeout=timeout, gate=ProviderGate()))
    return session


@contextmanager
def provider_call(what: str, timeout: float) -> Iterator[None]:
    """Run one exchange with the provider, mapping transport trouble to OIDC errors."""
    try:
        yield
    except AnswerTooSlow as exc:
        raise ProviderTimeout(f"{what}: {exc}") from None
    except AnswerTooLarge as exc:
        raise ProviderError(f"{what}: {exc}", answer_refused=True) from None
    except GateFull as exc:
        raise ProviderBusy(f"{what}: not sent, {exc}") from None
    except requests.Timeout:
        raise ProviderTimeout(f"{what}: no answer within {timeout} s") from None
    except requests.ConnectionError as exc:
        raise ProviderUnavailable(f"{what}: connection failed ({type(exc).__name__})") from None
    except requests.RequestException as exc:
        raise ProviderError(f"{what}: request failed ({type(exc).__name__})") from None


def parse_json_object(body: bytes, *, what: str) -> dict[str, Any]:
    """The body as a JSON object, or ProviderError (HTML error pages, garbage, arrays...)."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ProviderError(f"{what}: response is not JSON") from None
    if not isinstance(document, dict):
        raise ProviderError(f"{what}: response is not a JSON object")
    return document


def get_json(http: requests.Session, url: str, *, what: str, timeout: float) -> dict[str, Any]:
    """GET a JSON document that must come back 200."""
    with provider_call(what, timeout):
        response = http.get(
            url, headers={"Accept": "application/json"}, timeout=timeout, allow_redirects=False
        )
    if response.status_code != 200:
        raise ProviderError(f"{what}: HTTP {response.status_code}")
    return parse_json_object(response.content, what=what)


def safe_text(value: object, limit: int = 200) -> str:
    """A provider-supplied string made safe for one log line: printable ASCII, truncated."""
    text = value if isinstance(value, str) else repr(value)
    cleaned = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return cleaned[:limit] + ("..." if len(cleaned) > limit else "")
