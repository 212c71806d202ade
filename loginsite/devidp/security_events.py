"""The development provider's side of login.gov's push notifications: sign a SET, POST it.

It builds the Security Event Token exactly as login.gov's ``PushNotification::HttpPush`` does
(18F/identity-idp): header ``typ: secevent+jwt``, ``alg: RS256`` and the ``kid`` of the key that
signs id_tokens (so the app verifies it against the same JWKS); claims ``iss`` (the issuer),
``aud`` (the push URL), ``iat``, ``exp`` 12 hours later, a random hex ``jti`` and one event whose
subject is ``iss-sub`` with the pairwise ``sub``, except ``identifier-changed`` and
``identifier-recycled``, which login.gov sends about an email address. The POST has a timeout,
so a slow app never holds the page forever.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import jwt
import requests

from loginsite.oidc.security_event import EVENT_TYPES, SET_TYPE

from .provider import DevProvider

__all__ = ["EMAIL_SUBJECT_EVENTS", "Delivery", "SecurityEventSender"]

SET_LIFETIME = 12 * 3600
#: login.gov names an email address, not a sub, as the subject of these two.
EMAIL_SUBJECT_EVENTS = ("identifier-changed", "identifier-recycled")


@dataclass(frozen=True)
class Delivery:
    """What the push came to: the HTTP status (None if no answer) and what was said."""

    url: str
    status: int | None
    body: str
    claims: dict[str, Any]

    @property
    def accepted(self) -> bool:
        return self.status == 202


class SecurityEventSender:
    """Signs SETs with the provider's key and pushes them to the app's endpoint."""

    def __init__(
        self,
        provider: DevProvider,
        *,
        push_url: str,
        timeout: float,
        http: requests.Session | None = None,
    ) -> None:
        self.provider = provider
        self.push_url = push_url
        self.timeout = timeout
        self._http = http if http is not None else requests.Session()

    def claims(self, event: str, email: str) -> dict[str, Any]:
        """The SET claims for ``event`` (a short name) about the test user ``email``."""
        now = int(self.provider.clock())
        if event in EMAIL_SUBJECT_EVENTS:
            subject: dict[str, str] = {"subject_type": "email", "email": email}
        else:
            subject = {
                "subject_type": "iss-sub",
                "iss": self.provider.issuer,
                "sub": self.provider.subject_for(email),
            }
        payload: dict[str, Any] = {"subject": subject}
        if event == "account-disabled":
            payload["reason"] = "account-suspension"
        return {
            "iss": self.provider.issuer,
            "iat": now,
            "exp": now + SET_LIFETIME,
            "jti": secrets.token_hex(16),
            "aud": self.push_url,
            "events": {EVENT_TYPES[event]: payload},
        }

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims,
            self.provider.signing_key,
            algorithm="RS256",
            headers={"typ": SET_TYPE, "kid": self.provider.kid},
        )

    def push(self, event: str, email: str, *, via: str | None = None) -> Delivery:
        """Sign one event and POST it to the registered URL, or to ``via``: one particular
        instance behind it (the ``aud`` stays the registered URL, as behind a load balancer)."""
        claims = self.claims(event, email)
        return self.deliver(self.sign(claims), claims, via or self.push_url)

    def deliver(self, token: str, claims: dict[str, Any], url: str) -> Delivery:
        """POST a signed SET the way login.gov's RiscDeliveryJob does, with a timeout."""
        try:
            response = self._http.post(
                url,
                data=token,
                headers={"Content-Type": "application/secevent+jwt", "Accept": "application/json"},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            return Delivery(url, None, f"no answer: {type(exc).__name__}", claims)
        return Delivery(url, response.status_code, response.text[:2000], claims)
