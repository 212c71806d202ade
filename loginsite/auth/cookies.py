"""The short-lived cookies of the sign-in flow: pending sign-ins and the sign-out state."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from loginsite.session.cookie import cookie_value
from loginsite.settings import SessionSettings, cookie_name_on_wire

TRANSACTION_TTL = 600


def transaction_keys(settings: SessionSettings) -> list[tuple[str, bytes]]:
    """Keys for the transaction cookie, derived so no secret serves two purposes."""
    return [
        (key.kid, hmac.new(key.secret, b"loginsite login transaction", hashlib.sha256).digest())
        for key in settings.keys
    ]


class FlowCookie:
    """One HttpOnly, SameSite=Lax, Path=/ cookie with a short life; ``__Host-`` when secure."""

    def __init__(self, name: str, *, secure: bool, max_age: int) -> None:
        self.name = cookie_name_on_wire(name, secure=secure)
        self.secure = secure
        self.max_age = max_age

    def read(self, request: Any) -> str | None:
        """This cookie's value, read without WebOb's cookie parser (see :func:`cookie_value`)."""
        return cookie_value(request.environ, self.name)

    def set(self, response: object, value: str | None) -> None:
        if value is None:
            self.delete(response)
            return
        response.set_cookie(  # type: ignore[attr-defined]
            self.name,
            value,
            max_age=self.max_age,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )

    def delete(self, response: object) -> None:
        response.set_cookie(  # type: ignore[attr-defined]
            self.name,
            "",
            max_age=0,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )
