"""The ``Cookie`` header as the app lets anything parse it: only well-formed cookie pairs.

WebOb's cookie parser is quadratic on malformed input (a header of 8,000 ``a`` takes seconds),
raises on pairs that are not UTF-8, and unquotes backslash escapes into bytes that then raise
too. Any of these, planted by a sibling subdomain or sent by a client, would break every page
that reads ``request.cookies`` (Pyramid's CSRF check, the layout). The app reads its own cookies
without that parser (:func:`loginsite.session.cookie.cookie_value`); this tween makes sure that
whatever still reaches WebOb is harmless, by keeping only the pairs RFC 6265 allows. The check
is linear, and dropping a cookie the app cannot read anyway costs nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# RFC 6265 4.1.1: a cookie-name is an RFC 7230 token; a cookie-value is cookie-octets, optionally
# in double quotes. Non-ASCII is kept if it is UTF-8 (browsers send what JavaScript set); control
# characters, backslashes, double quotes inside the value and commas are not.
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(r'"[^\x00-\x20",;\\\x7f]*"|[^\x00-\x20",;\\\x7f]*')


def well_formed_pair(pair: str) -> bool:
    name, sep, value = pair.partition("=")
    if not sep or not _NAME.fullmatch(name.strip(" \t")):
        return False
    value = value.strip(" \t")
    if not value.isascii():
        try:
            value.encode("latin-1").decode("utf-8")  # WSGI hands headers over as latin-1
        except UnicodeError:
            return False
        value = value.encode("ascii", "replace").decode()  # its UTF-8 bytes are cookie-octets
    return _VALUE.fullmatch(value) is not None


def sanitized_cookie_header(header: str) -> tuple[str, int]:
    """The header with every malformed pair dropped, and how many were dropped."""
    pairs = header.split(";")
    kept = [pair for pair in pairs if well_formed_pair(pair)]
    dropped = sum(1 for pair in pairs if pair.strip(" \t")) - len(kept)
    if not dropped:
        return header, 0
    return ";".join(kept), dropped


def cookie_sanitising_tween_factory(handler: Callable, registry: Any) -> Callable:
    """Rewrites ``HTTP_COOKIE`` before anything in the app can parse it."""

    def cookie_sanitising_tween(request: Any) -> Any:
        environ = request.environ
        header = environ.get("HTTP_COOKIE")
        if header:
            sanitized, dropped = sanitized_cookie_header(header)
            if dropped:
                environ["HTTP_COOKIE"] = sanitized
                log.info(
                    "request.cookies_dropped count=%d request_id=%s",
                    dropped,
                    request.request_id,
                )
        return handler(request)

    return cookie_sanitising_tween
