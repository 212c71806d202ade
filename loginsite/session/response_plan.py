"""What each response owes the session, and the tween that pays it.

A request that consults the session makes the response depend on the ``Cookie`` header (so it
owes ``Vary: Cookie``), and maybe owes a renewal or a clearing ``Set-Cookie``. The policy records
that plan in the environ; one outermost tween settles it on every response, error pages
included. A plan recorded where no tween will see it (a policy built without the tween, or one
consulted from a response callback after the tween) registers a response callback instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyramid.request import Request
    from pyramid.response import Response

Headers = tuple[tuple[str, str], ...]

# Absent if the request never consulted the session; else the Set-Cookie headers owed (a
# renewal, a clearing, or none); ``SETTLED`` once the response has been given them.
PLAN_KEY = "loginsite.session.plan"
SETTLED: Headers = (("settled", ""),)
NO_HEADERS: Headers = ()


def owe(request: Request, headers: Headers, tween_installed: bool) -> None:
    """Record what the response owes the session (replacing any earlier plan: the last word
    wins, so remember() and forget() cancel a planned renewal); make sure something settles it."""
    environ = request.environ
    previous = environ.get(PLAN_KEY)
    if previous is SETTLED or (previous is None and not tween_installed):
        # No session tween, or it has already passed: a response callback will settle it.
        request.add_response_callback(settle)
    environ[PLAN_KEY] = headers


def settle(request: Request, response: Response) -> None:
    """Give the response what the plan says it owes, once."""
    environ = request.environ
    headers = environ.get(PLAN_KEY)
    environ[PLAN_KEY] = SETTLED
    if headers is None or headers is SETTLED:
        return
    add_vary_cookie(response)
    if headers:
        response.headerlist.extend(headers)


def session_consulted(request: Request) -> bool:
    """Whether the response depends on the session (it may show who is signed in)."""
    return request.environ.get(PLAN_KEY) is not None


def add_vary_cookie(response: Response) -> None:
    headerlist = response.headerlist
    for name, _ in headerlist:
        if name.lower() == "vary":
            vary = response.vary or ()
            if "Cookie" not in vary:
                response.vary = (*vary, "Cookie")
            return
    # The common case, without WebOb's parse-and-serialise of the ``vary`` property.
    headerlist.append(("Vary", "Cookie"))


def session_response_tween_factory(handler: Callable, registry: Any) -> Callable:
    """Settles each response's session plan.

    ``includeme`` installs it outermost, so it sees every response, error pages included, after
    anything inside may have consulted the session. One tween for all requests costs less than a
    response callback registered on each request that consults the session.
    """

    def session_response_tween(request: Request) -> Response:
        response = handler(request)
        settle(request, response)
        return response

    return session_response_tween
