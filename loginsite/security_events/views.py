"""``POST /api/security-events``: where login.gov pushes Security Event Tokens (RFC 8935).

Thin HTTP glue over :class:`~loginsite.security_events.receiver.SecurityEventReceiver`. It is
not a page: no session is consulted or set (the view never reads ``request.identity``, so the
session tween adds no ``Set-Cookie`` or ``Vary``), and it is exempt from the CSRF check because
the SET's signature is what authenticates the request.
"""

from __future__ import annotations

from typing import Any

from pyramid.response import Response

from loginsite.oidc.security_event import MAX_SET_LENGTH
from loginsite.operations.audit import origin_of

from .receiver import Receipt, SecurityEventReceiver

RECEIVER_KEY = "loginsite.security_event_receiver"
CONTENT_TYPE = "application/secevent+jwt"
#: The largest body read: a SET is about 1 KB, and MAX_SET_LENGTH bounds it anyway.
MAX_BODY_BYTES = MAX_SET_LENGTH


def _receiver(request: Any) -> SecurityEventReceiver:
    return request.registry[RECEIVER_KEY]


def _answer(receipt: Receipt) -> Response:
    if receipt.status == 202:
        return Response(status=202)
    body: dict[str, str] = {"description": receipt.description or ""}
    if receipt.err is not None:
        body = {"err": receipt.err, **body}
    return Response(status=receipt.status, json_body=body, charset="utf-8")


def receive(request: Any) -> Response:
    receiver = _receiver(request)
    origin = origin_of(request, "security_events")

    def refuse(description: str) -> Response:
        return _answer(receiver.refuse("invalid_request", description, origin=origin))

    if request.method != "POST":
        response = _answer(Receipt(405, description="Security Event Tokens are POSTed here"))
        response.headers["Allow"] = "POST"
        return response
    if (request.content_type or "").lower() != CONTENT_TYPE:
        return refuse(f"the content type must be {CONTENT_TYPE}")
    length = request.content_length
    if length is None:
        return refuse("the request has no Content-Length")
    if length > MAX_BODY_BYTES:
        return refuse(f"the body is over {MAX_BODY_BYTES} bytes")
    body = request.body_file.read(length)
    try:
        token = body.decode("ascii").strip()
    except UnicodeDecodeError:
        return refuse("the body is not a compact JWS (non-ASCII bytes)")
    return _answer(receiver.receive(token, origin=origin))


def includeme(config: Any) -> None:
    config.add_view(receive, route_name="security_events", require_csrf=False)
