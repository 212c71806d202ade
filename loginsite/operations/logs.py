"""Log lines that carry their request's id.

Pyramid's router keeps the request being served in a thread local for the length of the request
(``get_current_request``: set by Pyramid anyway, so no cost here); the :class:`RequestIdFilter`
copies its id onto every record logged while it is served, whoever logs it, so no call has to
pass the id by hand, and only a record that is actually emitted pays for the look-up.

INI logging config (``logging.config.fileConfig``) cannot attach filters, so
:class:`RequestIdStreamHandler` is a ``StreamHandler`` that carries the filter itself:
``production.ini`` and ``development.ini`` name it, and pserve needs nothing else. Records
logged outside a request (start-up, background threads) get ``-``.
"""

from __future__ import annotations

import logging
from typing import Any

from pyramid.threadlocal import get_current_request


def request_id_of(request: Any) -> str:
    """``request.request_id``: the reified id that ``X-Request-Id`` and error pages show."""
    return getattr(request, "request_id", None) or "-"


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id`` (never overriding one given in ``extra``); keeps every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            request = get_current_request()
            record.request_id = "-" if request is None else request_id_of(request)
        return True


class RequestIdStreamHandler(logging.StreamHandler):
    """``logging.StreamHandler`` with :class:`RequestIdFilter`: usable from an INI file."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self.addFilter(RequestIdFilter())
