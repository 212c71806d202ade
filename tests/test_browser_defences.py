"""The browser-facing defences, checked on the real responses a real browser gets.

Headers on every response of a whole sign-in and sign-out, the CSP actually enforced by
Chromium (no inline script or style, no violations), the referrer the browser really sends,
framing refused, HSTS when ``secure`` is on, and the journey with JavaScript turned off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from loginsite.settings import ACR_VERIFIED
from tests.plugins.browser import LiveApp, screenshot
from tests.test_browser_journeys import (
    ALICE,
    approve_at_provider,
    assert_at_provider_sign_in,
    header_sign_in,
    heading,
    sign_in,
)

#: What the pages load from /static/: stylesheets, USWDS's scripts, fonts and images.
STATIC_TYPES = {
    "text/css",
    "text/javascript",
    "application/javascript",
    "font/woff2",
    "image/svg+xml",
    "image/png",
    "image/x-icon",
    "image/vnd.microsoft.icon",
}
STRICT_REFERRER_POLICIES = {
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
}


@pytest.fixture
def site(live_devidp_app: Callable[..., LiveApp]) -> LiveApp:
    return live_devidp_app()


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name.lower()] = values
    return directives


def assert_strict_csp(header: str | None, where: str) -> None:
    assert header, f"no Content-Security-Policy on {where}"
    csp = csp_directives(header)
    assert csp.get("default-src") == ["'self'"], (where, header)
    assert csp.get("frame-ancestors") == ["'none'"], (where, header)
    for directive in ("script-src", "style-src"):
        allowed = csp.get(directive, csp["default-src"])
        assert allowed == ["'self'"], f"{directive} on {where}: {header}"
    assert "'unsafe-inline'" not in header, where
    assert "'unsafe-eval'" not in header, where
    assert csp.get("object-src") == ["'none'"], (where, header)
    assert csp.get("base-uri") == ["'none'"], (where, header)


def record_responses(context: Any, origin: str) -> list[Any]:
    seen: list[Any] = []
    context.on("response", lambda r: seen.append(r) if r.url.startswith(origin) else None)
    return seen


def whole_journey(page: Any, site: LiveApp) -> None:
    """Home, sign-in at the provider, account, step-up, a 404, sign-out at the provider."""
    page.goto(site("/"))
    with page.expect_navigation():
        header_sign_in(page).click()
    assert_at_provider_sign_in(page, site)
    approve_at_provider(page, ALICE)
    page.goto(site("/account"))
    assert heading(page) == "Your account"
    page.goto(site("/account/verified"))
    approve_at_provider(page, ALICE, level=ACR_VERIFIED)
    assert heading(page) == "Identity-verified area"
    page.goto(site("/no/such/page"))
    assert heading(page) == "Page not found"
    page.goto(site("/auth/logout"))
    with page.expect_navigation():
        page.locator("main").get_by_role("button", name="Sign out").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Yes, sign out").click()
    assert heading(page) == "You have signed out"


def test_every_response_of_a_journey_carries_the_security_headers(
    page: Any, context: Any, site: LiveApp
) -> None:
    responses = record_responses(context, site.url)
    whole_journey(page, site)

    paths = set()
    for response in responses:
        path = urlsplit(response.url).path
        paths.add(path)
        where = f"{response.request.method} {path} ({response.status})"
        headers = response.all_headers()
        assert headers.get("x-content-type-options") == "nosniff", where
        assert headers.get("x-frame-options") == "DENY", where
        assert_strict_csp(headers.get("content-security-policy"), where)
        referrer = headers.get("referrer-policy")
        if path.startswith("/auth/"):
            assert referrer == "no-referrer", where
        else:
            assert referrer in STRICT_REFERRER_POLICIES, where
        if path.startswith("/static/"):
            assert headers["content-type"].split(";")[0] in STATIC_TYPES, where
        else:
            # Personal data, sign-in state or the provider's answers: never cached.
            assert headers.get("cache-control") == "no-store", where
        assert "strict-transport-security" not in headers, f"HSTS over plain http on {where}"
    assert paths >= {
        "/",
        "/account",
        "/account/verified",
        "/no/such/page",
        "/auth/login",
        "/auth/callback",
        "/auth/logout",
        "/auth/signed-out",
        "/_devidp/openid_connect/authorize",
        "/_devidp/openid_connect/logout",
        "/static/site.css",
        "/static/uswds/css/uswds.min.css",
        "/static/uswds/js/uswds-init.min.js",
        "/static/uswds/js/uswds.min.js",
        "/static/uswds/fonts/public-sans/PublicSans-Regular.woff2",
        "/static/login-gov/logo-white.svg",
    }, paths


def test_hsts_when_secure_is_on(
    live_server: Callable[[], Any], make_app: Callable[..., Any]
) -> None:
    # The browser would not send a Secure cookie over http, so this variant is checked with
    # plain HTTP requests against the real server; public_url is https as in production.
    server = live_server()
    server.start(
        make_app(
            **{
                "loginsite.public_url": "https://app.example.test",
                "loginsite.session.secure": "true",
            }
        )
    )
    for path in ("/", "/account", "/no/such/page", "/auth/login", "/static/site.css"):
        response = requests.get(server.url + path, allow_redirects=False, timeout=5)
        hsts = response.headers.get("Strict-Transport-Security", "")
        directives = [d.strip().lower() for d in hsts.split(";")]
        max_age = next((int(d[8:]) for d in directives if d.startswith("max-age=")), 0)
        assert max_age >= 31536000, (path, response.status_code, hsts)
        assert "includesubdomains" in directives, (path, hsts)
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path


def inline_code(page: Any) -> dict[str, int]:
    return page.evaluate(
        """() => ({
            inlineScripts: document.querySelectorAll('script:not([src])').length,
            styleElements: document.querySelectorAll('style').length,
            styleAttributes: document.querySelectorAll('[style]').length,
            handlerAttributes: [...document.querySelectorAll('*')].filter(
                el => [...el.attributes].some(a => a.name.startsWith('on'))).length,
            javascriptUrls: document.querySelectorAll('[href^="javascript:" i]').length,
        })"""
    )


def visit_every_page(page: Any, site: LiveApp) -> Iterable[str]:
    """Yield a label on each distinct page of the journeys, signed out then signed in."""
    page.goto(site("/"))
    yield "home, signed out"
    page.goto(site("/no/such/page"))
    yield "404"
    page.goto(site("/account"))
    yield "provider sign-in"
    with page.expect_navigation():
        page.get_by_role("button", name="Cancel").click()
    yield "cancelled"
    page.goto(site("/auth/callback?state=unknown&code=x"))
    yield "expired"
    page.goto(site("/account"))
    approve_at_provider(page, ALICE)
    yield "account"
    page.goto(site("/"))
    yield "home, signed in"
    page.goto(site("/account/verified"))
    approve_at_provider(page, ALICE, level=ACR_VERIFIED)
    yield "verified"
    page.goto(site("/auth/logout"))
    yield "sign-out confirmation"
    with page.expect_navigation():
        page.locator("main").get_by_role("button", name="Sign out").click()
    yield "provider sign-out"
    with page.expect_navigation():
        page.get_by_role("button", name="Yes, sign out").click()
    yield "signed out"
    page.goto(site("/_devidp/"))
    yield "provider home"


def test_no_inline_script_or_style_and_no_csp_violations(
    page: Any, console: Any, site: LiveApp
) -> None:
    labels = []
    for label in visit_every_page(page, site):
        labels.append(label)
        assert inline_code(page) == {
            "inlineScripts": 0,
            "styleElements": 0,
            "styleAttributes": 0,
            "handlerAttributes": 0,
            "javascriptUrls": 0,
        }, label
        assert console.csp_violations() == [], label
        # The stylesheets did load under the policy: the page is styled, not bare HTML.
        assert page.evaluate("() => document.styleSheets.length") >= 1, label
        assert page.evaluate("() => document.styleSheets[0].cssRules.length") > 10, label
    assert len(labels) == 12
    # The only console errors are the error pages' own statuses (404, 400), nothing broken.
    errors = [m for m in console.messages if m.startswith(("error", "pageerror"))]
    assert [m for m in errors if "the server responded with a status of 4" not in m] == []


def test_the_browser_enforces_the_csp_on_injected_inline_code(
    page: Any, console: Any, site: LiveApp
) -> None:
    """What an injection would add is refused by the browser itself (and reported)."""
    sign_in(page, site)
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text) as script:
        page.evaluate(
            """() => {
                const script = document.createElement('script');
                script.textContent = 'document.body.dataset.injected = "yes"';
                document.body.append(script);
            }"""
        )
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text) as style:
        page.evaluate(
            """() => {
                const style = document.createElement('style');
                style.textContent = 'body { display: none }';
                document.head.append(style);
            }"""
        )
    assert "inline script" in script.value.text
    assert "inline style" in style.value.text
    assert page.evaluate("() => document.body.dataset.injected") is None
    assert page.locator("h1").is_visible()


def test_no_referrer_leaves_the_auth_pages(page: Any, context: Any, site: LiveApp) -> None:
    sent: list[tuple[str, str | None]] = []
    # Navigations only: the page's own files and favicon load from this site alone.
    context.on(
        "request",
        lambda r: (
            sent.append((r.url, r.headers.get("referer"))) if r.is_navigation_request() else None
        ),
    )
    context.route(
        "https://login.gov/",
        lambda route: route.fulfill(status=200, content_type="text/html", body="<p>ok</p>"),
    )
    # The cancelled page sits at /auth/callback?state=...: its address must not leak.
    page.goto(site("/account"))
    with page.expect_navigation():
        page.get_by_role("button", name="Cancel").click()
    assert heading(page) == "You cancelled signing in"
    del sent[:]
    with page.expect_navigation():
        page.locator("main").get_by_role("link", name="Sign in with Login.gov").click()
    assert sent[0] == (site("/auth/login?next=%2Faccount"), None)

    # Elsewhere, another site learns at most this site's origin, never the path.
    page.goto(site("/no/such/page?private=1"))
    del sent[:]
    with page.expect_navigation():
        page.locator("footer").get_by_role("link", name="Login.gov", exact=True).click()
    assert sent == [("https://login.gov/", site("/"))]


FRAMING_PAGE = """<!doctype html>
<html lang="en"><head><title>Another site</title></head><body>
<h1>Another site</h1>
<iframe id="victim" title="loginsite account" src="{target}" width="800" height="400"></iframe>
<iframe id="control" title="control" src="/control" width="300" height="100"></iframe>
</body></html>"""


def framing_site(target: str) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ["PATH_INFO"] == "/control":
            body = b'<!doctype html><p id="control-text">Framed content renders here</p>'
        else:
            body = FRAMING_PAGE.format(target=target).encode()
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [body]

    return app


def test_the_account_page_refuses_to_render_in_a_frame(
    page: Any, context: Any, console: Any, site: LiveApp, live_server: Callable[[], Any]
) -> None:
    sign_in(page, site)
    other = live_server().start(framing_site(site("/account")))
    answered: list[Any] = []
    context.on("response", lambda r: answered.append(r) if r.url == site("/account") else None)

    with page.expect_console_message(lambda m: "frame-ancestors" in m.text) as refused:
        page.goto(other.url + "/")
    assert "frame-ancestors 'none'" in refused.value.text
    # The harness can see a framed page that renders...
    page.frame_locator("#control").locator("#control-text").wait_for()
    # ...and the app did answer the framed request with the signed-in page (200, not the
    # redirect to sign-in: the cookie went along, the framing page being same-site), so it is
    # the browser, enforcing the headers, that keeps the account page out of the frame.
    assert [r.status for r in answered] == [200]
    victim = page.locator("#victim").element_handle().content_frame()
    assert victim is not None
    assert not victim.url.startswith(site.url), victim.url
    html = victim.content()
    assert ALICE not in html
    assert "Your account" not in html
    screenshot(page, "clickjacking-frame-refused")


def test_the_whole_journey_works_without_javascript(
    new_context: Callable[..., Any], site: LiveApp
) -> None:
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(site("/"))
    with page.expect_navigation():
        header_sign_in(page).click()
    assert_at_provider_sign_in(page, site)
    approve_at_provider(page, ALICE)
    assert page.url == site("/account")
    assert heading(page) == "Your account"

    page.goto(site("/account/verified"))
    approve_at_provider(page, ALICE, level=ACR_VERIFIED)
    assert heading(page) == "Identity-verified area"

    header = page.get_by_role("navigation", name="Account")
    with page.expect_navigation():
        header.get_by_role("button", name="Sign out").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Yes, sign out").click()
    assert heading(page) == "You have signed out"
    page.goto(site("/account"))
    assert_at_provider_sign_in(page, site)
    screenshot(page, "no-javascript-provider-sign-in")
