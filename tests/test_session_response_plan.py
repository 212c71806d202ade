"""The response plan alone: what a response owes the session, settled exactly once."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.response import Response

from loginsite.session.response_plan import (
    NO_HEADERS,
    add_vary_cookie,
    owe,
    session_response_tween_factory,
    settle,
)

CLEAR = (("Set-Cookie", "sess=; Max-Age=0"),)


def test_a_request_that_never_consulted_the_session_owes_nothing() -> None:
    request, response = Request.blank("/"), Response()
    settle(request, response)
    assert "Vary" not in response.headers
    assert "Set-Cookie" not in response.headers


def test_a_consulted_session_owes_vary_and_the_last_planned_headers() -> None:
    request, response = Request.blank("/"), Response()
    owe(request, CLEAR, tween_installed=True)
    owe(request, NO_HEADERS, tween_installed=True)  # e.g. forget() after a planned clearing
    owe(request, CLEAR, tween_installed=True)
    settle(request, response)
    settle(request, response)  # a second settlement adds nothing
    assert response.headers.getall("Vary") == ["Cookie"]
    assert response.headers.getall("Set-Cookie") == ["sess=; Max-Age=0"]


def test_without_the_tween_a_response_callback_settles_the_plan() -> None:
    request = Request.blank("/")
    owe(request, CLEAR, tween_installed=False)
    owe(request, CLEAR, tween_installed=False)
    assert len(request.response_callbacks) == 1
    response = Response()
    request._process_response_callbacks(response)
    assert response.headers.getall("Set-Cookie") == ["sess=; Max-Age=0"]


def test_a_plan_made_after_settlement_gets_a_callback() -> None:
    request = Request.blank("/")
    owe(request, NO_HEADERS, tween_installed=True)
    settle(request, Response())
    owe(request, CLEAR, tween_installed=True)
    late = Response()
    request._process_response_callbacks(late)
    assert late.headers.getall("Set-Cookie") == ["sess=; Max-Age=0"]


def test_vary_is_merged_into_an_existing_header() -> None:
    response = Response()
    response.vary = ("Accept-Encoding",)
    add_vary_cookie(response)
    add_vary_cookie(response)
    assert response.headers.getall("Vary") == ["Accept-Encoding, Cookie"]


def test_the_tween_settles_what_the_handler_planned() -> None:
    def handler(request: Request) -> Response:
        owe(request, CLEAR, tween_installed=True)
        return Response()

    response = session_response_tween_factory(handler, None)(Request.blank("/"))
    assert response.headers["Vary"] == "Cookie"
    assert response.headers["Set-Cookie"] == "sess=; Max-Age=0"
