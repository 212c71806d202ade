"""What every sign-in answer says about itself, in a host app too (whose own headers are its
business): no ``Referer`` (the callback's address carries the authorization code and state, and
a page rendered there may load the host layout's images or fonts from elsewhere), and no copy in
any cache (a page may show who is signed in)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def private_answer(view: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A view decorator (``add_view(decorator=...)``) setting both headers on the answer."""

    def wrapped(context: Any, request: Any) -> Any:
        response = view(context, request)
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    return wrapped
