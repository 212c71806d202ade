"""Error pages never fail themselves: if the page cannot render, a plain page says the same."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import webtest

import loginsite.web.errors


def test_an_error_page_that_cannot_render_falls_back_to_a_plain_page(
    testapp: webtest.TestApp, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_render(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("the layout could not read something")

    monkeypatch.setattr(loginsite.web.errors, "render_to_response", broken_render)
    with caplog.at_level(logging.ERROR, logger="loginsite"):
        response = testapp.get("/no/such/<page>", status=404)
    assert "<h1>Page not found</h1>" in response.text
    assert "<page>" not in response.text
    assert response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert "page.render_failed status=404" in caplog.text
