"""HTTP requests with exactly the bytes a test chooses (method, header bytes), over a socket."""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: http.client.HTTPMessage
    text: str
    seconds: float

    def header_values(self, name: str) -> list[str]:
        return self.headers.get_all(name) or []


def raw_request(
    url: str,
    method: str = "GET",
    headers: dict[str, str | bytes] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
) -> RawResponse:
    """One request on a fresh connection; header values may be bytes (sent as they are)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        started = time.perf_counter()
        connection.putrequest(method, parts.path + (f"?{parts.query}" if parts.query else ""))
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        seconds = time.perf_counter() - started
        return RawResponse(response.status, response.headers, text, seconds)
    finally:
        connection.close()
