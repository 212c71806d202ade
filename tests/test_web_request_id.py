"""``request.request_id``: the proxy's id when well-formed, else a fresh one; the same id in
the response header, the log lines and the error page."""

from __future__ import annotations

import logging

import pytest
import webtest


def test_a_well_formed_incoming_id_is_kept(testapp: webtest.TestApp) -> None:
    response = testapp.get("/", headers={"X-Request-Id": "proxy-id.0123"})
    assert response.headers["X-Request-Id"] == "proxy-id.0123"


@pytest.mark.parametrize("incoming", ["", "short", "bad id with spaces", "x" * 65, "a\u00e9" * 8])
def test_a_malformed_incoming_id_is_replaced(testapp: webtest.TestApp, incoming: str) -> None:
    response = testapp.get("/", headers={"X-Request-Id": incoming})
    assert response.headers["X-Request-Id"] != incoming
    assert len(response.headers["X-Request-Id"]) == 16


def test_each_request_gets_its_own(testapp: webtest.TestApp) -> None:
    first = testapp.get("/").headers["X-Request-Id"]
    assert testapp.get("/").headers["X-Request-Id"] != first


def test_the_same_id_in_the_header_the_log_and_the_page(
    testapp: webtest.TestApp, caplog: pytest.LogCaptureFixture
) -> None:
    testapp.set_cookie("loginsite", "garbage")
    with caplog.at_level(logging.INFO, logger="loginsite"):
        response = testapp.request("/", method="TRACE", status=405)
    request_id = response.headers["X-Request-Id"]
    assert f"reference {request_id}" in response.text
    lines = [r.getMessage() for r in caplog.records]
    assert any("request.refused" in line and f"request_id={request_id}" in line for line in lines)
    testapp.set_cookie("loginsite", "garbage")
    with caplog.at_level(logging.INFO, logger="loginsite"):
        response = testapp.get("/")
    request_id = response.headers["X-Request-Id"]
    assert any(
        "session.refused" in r.getMessage() and f"request_id={request_id}" in r.getMessage()
        for r in caplog.records
    )
