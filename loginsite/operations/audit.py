"""The audit trail: one structured event per security-relevant action, on ``loginsite.audit``.

Its own logger, so an INI file can send it to a sink of its own (a file, syslog, a SIEM
collector) apart from the operational logs. Each event carries the content NIST SP 800-53 AU-3
asks for as fields of the record (``extra=``), which python-json-logger writes as JSON keys:
what (``event``, ``outcome``, ``reason``), when (``event_time``, UTC), where (``host``, ``pid``,
``component``, ``path``), the source (``client_addr``), who (``sub``, ``sid``) and the
``request_id``. The message repeats them as ``key=value`` text for readable logs.

What goes in is chosen by the code, never copied from a request: reasons are fixed codes,
``sub`` is login.gov's opaque subject and ``sid`` the session id (``jti``); never an email
address, a token, a code, a ``state`` or a cookie value. Nothing here runs on an ordinary
request: callers record only when an action happens (a sign-in, a refusal, a sign-out).

A request is read through its WSGI ``environ`` only (:func:`origin_of`), and an action without
one (start-up, ``loginsite-revoke``) names its component instead, so the console scripts and the
Security Event receiver record the same events as the views.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loginsite.operations.metrics import reason_label
from loginsite.operations.request_log import logged_path

AUDIT_LOGGER = "loginsite.audit"
log = logging.getLogger(AUDIT_LOGGER)

SUCCESS = "success"
FAILURE = "failure"

#: Every event, and the action it records. The README's "Audit trail" documents each one.
EVENTS: dict[str, str] = {
    "auth.sign_in": "a sign-in attempt ended at the callback (or could not start)",
    "auth.step_up_requested": "a signed-in user was sent to login.gov for identity verification",
    "auth.step_up": "a step-up (identity-verified) sign-in ended: granted or not granted",
    "auth.sign_out": "a sign-out of this session (POST /auth/logout)",
    "auth.sign_out_everywhere": 'a "sign out everywhere" (every session of the user)',
    "session.refused": "a presented session cookie was not accepted",
    "csrf.refused": "a POST failed the CSRF token or Origin/Referer check; nothing changed",
    "operator.revoke": "loginsite-revoke ended a user's sessions or one session",
    "security_event.received": "login.gov pushed a Security Event Token (account event)",
    "session.key_ring": "the session key ring in use at start-up (key ids only)",
}

#: The fields every event carries (``None`` where it does not apply), in message order.
FIELDS = (
    "event",
    "outcome",
    "reason",
    "detail",
    "event_time",
    "host",
    "pid",
    "component",
    "path",
    "client_addr",
    "sub",
    "sid",
    "request_id",
)

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an action came from: the part of the site, and the request if there was one."""

    component: str
    path: str | None = None
    client_addr: str | None = None
    request_id: str = "-"


def origin_of(request: Any, component: str) -> Origin:
    """The request's path (never its query: codes and state travel there) and source address.

    The address is ``REMOTE_ADDR``, not WebOb's ``client_addr``, which believes the first
    ``X-Forwarded-For`` entry whoever sent it. Behind the trusted proxy (production.ini's
    ``trusted_proxy`` settings) waitress has already put the visitor's address there, taken from
    the proxy's own entry; anyone else's forwarding headers are ignored.
    """
    environ = request.environ
    return Origin(
        component=component,
        path=logged_path(environ),
        client_addr=environ.get("REMOTE_ADDR") or None,
        request_id=getattr(request, "request_id", None) or "-",
    )


def code(reason: str) -> str:
    """A loggable reason sentence as a fixed code, without the quoted values some carry
    (``"wrong algorithm 'x' (only HS256)"`` -> ``wrong_algorithm``)."""
    return reason_label(_QUOTED.sub("", reason))


def utc_now() -> str:
    """ISO 8601 in UTC with a ``Z``, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record(
    event: str,
    outcome: str,
    reason: str,
    origin: Origin,
    *,
    sub: str | None = None,
    sid: str | None = None,
    detail: str | None = None,
    **details: Any,
) -> None:
    """Emit one audit event; ``details`` are the event's own fields (documented with it).

    Successes are INFO, failures WARNING. ``event`` must be one of :data:`EVENTS`.
    """
    if event not in EVENTS:
        raise ValueError(f"not an audit event: {event!r}")
    level = logging.INFO if outcome == SUCCESS else logging.WARNING
    if not log.isEnabledFor(level):
        return
    fields: dict[str, Any] = {
        "event": event,
        "outcome": outcome,
        "reason": reason,
        "detail": detail,
        "event_time": utc_now(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "component": origin.component,
        "path": origin.path,
        "client_addr": origin.client_addr,
        "sub": sub,
        "sid": sid,
        "request_id": origin.request_id,
        **details,
    }
    text = " ".join(
        f"{name}={_text(value)}"
        for name, value in fields.items()
        if name not in ("event", "outcome", "event_time", "host", "pid") and value is not None
    )
    log.log(level, "%s %s %s", event, outcome, text, extra=fields)


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def key_ring_loaded(session: Any) -> None:
    """``session.key_ring``: which key ids the ring holds and which one signs, never a secret.

    Keys that only verify (``verify_only``, during a rotation) are listed too, so an assessor
    can follow a rotation from one start-up to the next.
    """
    keys = session.keys
    record(
        "session.key_ring",
        SUCCESS,
        "loaded",
        Origin(component="startup"),
        key_ids=[key.kid for key in keys],
        signing_key_id=session.signing_key.kid,
        verify_only_key_ids=[key.kid for key in keys if getattr(key, "verify_only", False)],
    )


def includeme(config: Any) -> None:
    """At start-up: the key ring this instance signs and verifies sessions with."""
    from loginsite.settings import get_app_settings

    key_ring_loaded(get_app_settings(config.registry).session)
