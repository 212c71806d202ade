"""Behind a TLS-terminating proxy: production.ini's waitress proxy settings make the request
https, so Pyramid's Origin/Referer check for POSTs runs (it runs only for https requests).

Real waitress over real HTTP; this test's client plays the proxy, at 127.0.0.1, sending
``X-Forwarded-Proto: https`` and the public host.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.plugins.live_server import LiveServer
from tests.test_operations_metrics import signed_in_cookie

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_HOST = "apply.example.gov"


def production_proxy_options(trusted_proxy: str) -> dict[str, str]:
    """The proxy settings production.ini ships (commented out), with ``trusted_proxy`` set."""
    text = (ROOT / "production.ini").read_text()
    server = text.split("[server:main]", 1)[1].split("\n[", 1)[0]
    options = dict(re.findall(r"^# (\w*proxy\w*) = (.+)$", server, re.MULTILINE))
    assert {"trusted_proxy", "trusted_proxy_headers", "clear_untrusted_proxy_headers"} <= set(
        options
    ), options
    return {**options, "trusted_proxy": trusted_proxy}


@pytest.fixture
def serve_production(
    make_app: Callable[..., Any], live_server: Callable[[], LiveServer]
) -> Callable[[str], tuple[LiveServer, Any]]:
    def serve(trusted_proxy: str) -> tuple[LiveServer, Any]:
        server = live_server()
        app = make_app(
            **{
                "loginsite.environment": "production",
                "loginsite.public_url": f"https://{PUBLIC_HOST}",
                "loginsite.session.secure": "true",
                "loginsite.idp.allow_http": "false",
                "loginsite.idp.issuer": "https://127.0.0.1:9/",
                "loginsite.revocation.accept_unshared": "true",
            }
        )
        return server.start(app, **production_proxy_options(trusted_proxy)), app

    return serve


def sign_out_form(server: LiveServer, app: Any) -> tuple[str, str]:
    """GET the sign-out page as a signed-in visitor through the proxy: (cookies, csrf token)."""
    session, _ = signed_in_cookie(app)
    page = requests.get(
        server.url + "/auth/logout",
        headers={"Host": PUBLIC_HOST, "X-Forwarded-Proto": "https", "Cookie": session},
        timeout=5,
    )
    assert page.status_code == 200
    csrf_cookie = page.cookies.get("__Host-csrf")
    assert csrf_cookie, page.headers
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    return f"{session}; __Host-csrf={csrf_cookie}", token.group(1)


def post_sign_out(server: LiveServer, cookies: str, token: str, origin: str) -> requests.Response:
    return requests.post(
        server.url + "/auth/logout",
        data={"csrf_token": token},
        headers={
            "Host": PUBLIC_HOST,
            "X-Forwarded-Proto": "https",
            "Cookie": cookies,
            "Origin": origin,
        },
        allow_redirects=False,
        timeout=5,
    )


def test_a_cross_origin_post_is_refused_behind_a_trusted_tls_proxy(
    serve_production: Callable[[str], tuple[LiveServer, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    server, app = serve_production("127.0.0.1")
    cookies, token = sign_out_form(server, app)
    with caplog.at_level(logging.INFO, logger="loginsite"):
        refused = post_sign_out(server, cookies, token, "https://attacker.example")
    assert refused.status_code == 400
    assert "This form has expired" in refused.text
    assert any("reason=BadCSRFOrigin" in r.getMessage() for r in caplog.records)
    # The same form from the site's own origin goes through: the origin was the only problem.
    accepted = post_sign_out(server, cookies, token, f"https://{PUBLIC_HOST}")
    assert accepted.status_code == 303
    assert accepted.headers["Strict-Transport-Security"].startswith("max-age=")


def test_proxy_headers_from_an_untrusted_peer_are_ignored(
    serve_production: Callable[[str], tuple[LiveServer, Any]],
) -> None:
    """The client here is not the configured proxy: its X-Forwarded-Proto is cleared, the
    request stays http, and Pyramid does not check the origin at all. This is what production
    looks like without the proxy settings, and why production.ini ships them."""
    server, app = serve_production("127.0.0.2")
    cookies, token = sign_out_form(server, app)
    response = post_sign_out(server, cookies, token, "https://attacker.example")
    assert response.status_code == 303
