"""One place that turns provider HTTP trouble into :mod:`loginsite.oidc.errors` exceptions.

Every call has a timeout, never follows redirects (a provider endpoint that redirects is
misconfigured, and following it would send our credentials somewhere unvetted) and reads at most
``MAX_BODY_BYTES`` so a misbehaving endpoint cannot exhaust memory.

The timeout bounds each wait for the network (connecting, and every read), and the body is read
one network read at a time against a deadline of ``timeout`` from the start: an endpoint that
trickles its answer a byte at a time is cut off, so a whole exchange takes at most about twice the
timeout however the provider behaves.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import requests

from .errors import ProviderError, ProviderTimeout, ProviderUnavailable

MAX_BODY_BYTES = 1024 * 1024


def request(
    http: requests.Session,
    method: str,
    url: str,
    *,
    what: str,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    data: str | None = None,
) -> tuple[int, bytes]:
    """Send one request; return (status, body) or raise ProviderTimeout/Unavailable/Error."""
    deadline = time.monotonic() + timeout
    try:
        with http.request(
            method,
            url,
            headers=dict(headers or {}),
            data=data,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        ) as response:
            body = bytearray()
            while chunk := response.raw.read1(65536, decode_content=True):
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise ProviderError(f"{what}: response larger than {MAX_BODY_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise ProviderTimeout(f"{what}: the answer took longer than {timeout} s")
            return response.status_code, bytes(body)
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
    except (ValueError, UnicodeDecodeError):
        raise ProviderError(f"{what}: response is not JSON") from None
    if not isinstance(document, dict):
        raise ProviderError(f"{what}: response is not a JSON object")
    return document


def get_json(http: requests.Session, url: str, *, what: str, timeout: float) -> dict[str, Any]:
    """GET a JSON document that must come back 200."""
    status, body = request(
        http, "GET", url, what=what, timeout=timeout, headers={"Accept": "application/json"}
    )
    if status != 200:
        raise ProviderError(f"{what}: HTTP {status}")
    return parse_json_object(body, what=what)


def safe_text(value: object, limit: int = 200) -> str:
    """A provider-supplied string made safe for one log line: printable ASCII, truncated."""
    text = value if isinstance(value, str) else repr(value)
    cleaned = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return cleaned[:limit] + ("..." if len(cleaned) > limit else "")
