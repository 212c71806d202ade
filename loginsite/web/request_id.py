"""``request.request_id``: one id per request, for log lines, error pages and ``X-Request-Id``."""

from __future__ import annotations

import re
import secrets
from typing import Any

# What a proxy's id may look like to be trusted (and logged) as it is.
_INCOMING = re.compile(r"[A-Za-z0-9._-]{8,64}")


def request_id(request: Any) -> str:
    """The proxy's ``X-Request-Id`` when it is well-formed, so the logs of both line up; else a
    fresh random one. Reified: computed once, the first time anything asks."""
    incoming = request.environ.get("HTTP_X_REQUEST_ID", "")
    if len(incoming) <= 64 and _INCOMING.fullmatch(incoming):
        return incoming
    return secrets.token_hex(8)


def includeme(config: Any) -> None:
    config.add_request_method(request_id, "request_id", reify=True)
