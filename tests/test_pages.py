"""The pages through WebTest, anonymous and signed in, with their browser-facing headers."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import webtest
from pyramid.paster import get_app

from loginsite.settings import ACR_VERIFIED
from tests.plugins.session_keys import SECRET_1

ROOT = Path(__file__).resolve().parent.parent


def test_home_anonymous_offers_sign_in(testapp: webtest.TestApp) -> None:
    response = testapp.get("/")
    assert response.status_int == 200
    header = response.html.find("header", class_="usa-header")
    link = header.find("a", class_="login-button")
    assert link["href"] == "/auth/login"
    assert link.get_text(" ", strip=True) == "Sign in with"
    assert link.find("img")["alt"] == "Login.gov"
    assert response.html.find("main") is not None
    assert response.html.find("html")["lang"] == "en"
    assert " style=" not in response.text
    assert "<style" not in response.text


def test_pages_run_no_inline_script(testapp: webtest.TestApp) -> None:
    """Every script is a file from this site (the CSP allows nothing else), USWDS's own."""
    response = testapp.get("/")
    scripts = response.html.find_all("script")
    assert [s["src"] for s in scripts] == [
        "/static/uswds/js/uswds-init.min.js",
        "/static/uswds/js/uswds.min.js",
    ]
    assert all(not s.get_text(strip=True) for s in scripts)
    for script in scripts:
        assert testapp.get(script["src"]).content_type in (
            "application/javascript",
            "text/javascript",
        )


def test_the_government_banner_and_the_identifier(testapp: webtest.TestApp) -> None:
    html = testapp.get("/").html
    banner = html.find("section", class_="usa-banner")
    assert "An official website of the United States government" in banner.get_text()
    button = banner.find("button", class_="usa-banner__button")
    assert button.get_text(strip=True) == "Here\u2019s how you know"
    assert button["aria-expanded"] == "false"
    assert banner.find(id=button["aria-controls"]) is not None
    identifier = html.find("div", class_="usa-identifier")
    assert identifier.find("p", class_="usa-identifier__identity-domain").text == "localhost"
    assert "official website of the Example Agency" in identifier.get_text(" ", strip=True)
    links = {
        a.get_text(strip=True): a["href"]
        for a in identifier.find("nav").find_all("a", class_="usa-identifier__required-link")
    }
    assert links == {
        "About Example Agency": "/about",
        "Accessibility statement": "/accessibility",
        "FOIA requests": "/foia",
        "No FEAR Act data": "/no-fear-act",
        "Privacy policy": "/privacy",
    }


def test_site_identity_comes_from_the_settings(make_app: Callable[..., object]) -> None:
    app = webtest.TestApp(
        make_app(
            **{
                "loginsite.site_name": "Apply for Benefits",
                "loginsite.agency.name": "Department of Examples",
                "loginsite.agency.url": "https://www.examples.gov/",
                "loginsite.agency.about_url": "https://www.examples.gov/about",
                "loginsite.agency.accessibility_url": "https://www.examples.gov/a11y",
                "loginsite.agency.foia_url": "https://www.examples.gov/foia",
                "loginsite.agency.no_fear_act_url": "https://www.examples.gov/nofear",
                "loginsite.agency.privacy_url": "/privacy-notice",
            }
        )
    )
    html = app.get("/").html
    assert html.find("title").text == "Sign in | Apply for Benefits"
    assert html.find(class_="usa-logo__text").get_text(strip=True) == "Apply for Benefits"
    assert html.find("h1").text == "Sign in to Apply for Benefits"
    identifier = html.find("div", class_="usa-identifier")
    agency = identifier.find("p", class_="usa-identifier__identity-disclaimer").find("a")
    assert (agency.text, agency["href"]) == ("Department of Examples", "https://www.examples.gov/")
    hrefs = [a["href"] for a in identifier.find_all("a", class_="usa-identifier__required-link")]
    assert hrefs == [
        "https://www.examples.gov/about",
        "https://www.examples.gov/a11y",
        "https://www.examples.gov/foia",
        "https://www.examples.gov/nofear",
        "/privacy-notice",
    ]
    # Configured links get no placeholder page of this site.
    app.get("/about", status=404)
    app.get("/foia", status=404)


@pytest.mark.parametrize(
    ("path", "setting"),
    [
        ("/about", "loginsite.agency.about_url"),
        ("/accessibility", "loginsite.agency.accessibility_url"),
        ("/foia", "loginsite.agency.foia_url"),
        ("/no-fear-act", "loginsite.agency.no_fear_act_url"),
        ("/privacy", "loginsite.agency.privacy_url"),
    ],
)
def test_an_unconfigured_identifier_link_is_a_page_saying_so(
    testapp: webtest.TestApp, path: str, setting: str
) -> None:
    response = testapp.get(path)
    assert "This page has not been set up for this site yet." in response.text
    assert response.html.find("code").text == setting


def test_no_template_names_the_app() -> None:
    """What a site calls itself is configuration (loginsite.site_name), never the app's name."""
    templates = sorted((ROOT / "loginsite" / "templates").glob("*.html"))
    assert len(templates) >= 10
    named = [t.name for t in templates if "loginsite" in t.read_text(encoding="utf-8").lower()]
    assert named == []


def test_pages_do_not_name_the_app(testapp: webtest.TestApp, sign_in: Callable[..., str]) -> None:
    for path in ("/", "/no/such/page", "/auth/logout", "/auth/signed-out"):
        text = testapp.get(path, expect_errors=True).text.lower()
        assert "loginsite" not in text.replace("/static/", ""), path
    sign_in()
    for path in ("/", "/account/", "/auth/logout"):
        assert "loginsite" not in testapp.get(path).text.lower(), path


def test_home_signed_in_shows_email_and_sign_out(
    testapp: webtest.TestApp, sign_in: Callable[..., str]
) -> None:
    sign_in()
    response = testapp.get("/")
    assert "alice@example.gov" in response.text
    assert response.html.find("a", href="/account/") is not None
    form = response.html.find("form", action="/auth/logout")
    assert form["method"] == "post"
    assert form.find("input", attrs={"name": "csrf_token"})["value"]


def test_account_requires_sign_in(testapp: webtest.TestApp) -> None:
    response = testapp.get("/account", status=303)
    assert response.location == "http://localhost:6543/auth/login?next=%2Faccount"


def test_redirects_never_use_the_host_header(testapp: webtest.TestApp) -> None:
    response = testapp.get(
        "/account",
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
        status=303,
    )
    assert response.location.startswith("http://localhost:6543/")


def test_account_signed_in_shows_the_session(
    testapp: webtest.TestApp, sign_in: Callable[..., str]
) -> None:
    sign_in(sub="sub-123", email="bob@example.gov")
    response = testapp.get("/account")
    text = response.text
    assert "bob@example.gov" in text
    assert "Signed in" in text
    assert "Session ends at the latest" in text
    assert response.headers["Cache-Control"] == "no-store"
    assert "Cookie" in response.headers["Vary"]
    everywhere = response.html.find("input", attrs={"name": "everywhere"})
    assert everywhere is not None


def test_account_times_are_readable_in_the_display_timezone(
    make_app: Callable[..., object],
) -> None:
    from pyramid.interfaces import ISecurityPolicy

    app = webtest.TestApp(make_app(**{"loginsite.display_timezone": "America/Chicago"}))
    policy = app.app.registry.getUtility(ISecurityPolicy)
    value, _ = policy.codec.mint("sub-1", email="a@example.gov", acr="urn:acr.login.gov:auth-only")
    app.set_cookie("loginsite", value)
    times = app.get("/account").html.find("main").find_all("time")
    assert len(times) == 3
    for time in times:
        assert re.fullmatch(
            r"\d{1,2}:\d\d\u202f[AP]M Central Time, [A-Z][a-z]+ \d{1,2}, \d{4}", time.text
        ), time.text
        assert time["datetime"].endswith(("-06:00", "-05:00"))  # the instant, in that zone


def test_raw_identifiers_are_behind_a_disclosure(
    testapp: webtest.TestApp, sign_in: Callable[..., str]
) -> None:
    sign_in(sub="6f1c1b52-8a6e-4d0b-9a53-2b6f7d3c2e11")
    main = testapp.get("/account").html.find("main")
    details = main.find("details")
    assert details.find("summary").text == "Technical details"
    codes = [c.text for c in details.find_all("code")]
    assert codes == ["6f1c1b52-8a6e-4d0b-9a53-2b6f7d3c2e11", "urn:acr.login.gov:auth-only"]
    details.extract()
    assert "6f1c1b52" not in main.get_text()
    assert "urn:" not in main.get_text()
    assert "Authenticated (no identity verification)" in main.get_text()


def test_verified_page_steps_up_an_auth_only_session(
    testapp: webtest.TestApp, sign_in: Callable[..., str]
) -> None:
    sign_in()
    response = testapp.get("/account/verified", status=303)
    assert response.location == (
        "http://localhost:6543/auth/login?next=%2Faccount%2Fverified&level=verified"
    )


def test_verified_page_for_a_verified_session(
    testapp: webtest.TestApp, sign_in: Callable[..., str]
) -> None:
    sign_in(acr=ACR_VERIFIED)
    response = testapp.get("/account/verified")
    assert "Identity-verified area" in response.text


def test_not_found_is_friendly(testapp: webtest.TestApp) -> None:
    response = testapp.get("/no/such/page", status=404)
    assert "Page not found" in response.text
    assert "Traceback" not in response.text


def test_tampered_cookie_on_a_page_is_anonymous_not_an_error(
    testapp: webtest.TestApp, sign_in: Callable[..., str]
) -> None:
    value = sign_in()
    testapp.set_cookie("loginsite", value[:-4] + "AAAA")
    response = testapp.get("/")
    assert "Sign in with" in response.text
    assert any(c.startswith("loginsite=;") for c in response.headers.getall("Set-Cookie"))


def test_undecodable_cookie_header_is_not_a_500(testapp: webtest.TestApp) -> None:
    response = testapp.get("/", headers={"Cookie": "csrf=\xe9\xe9; other=1"})
    assert response.status_int == 200


def test_security_headers(testapp: webtest.TestApp) -> None:
    response = testapp.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers


def test_auth_pages_send_no_referrer(testapp: webtest.TestApp) -> None:
    response = testapp.get("/auth/logout")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_hsts_when_secure(make_app: Callable[..., object]) -> None:
    app = webtest.TestApp(
        make_app(**{"loginsite.session.secure": "true", "loginsite.public_url": "https://a.gov"})
    )
    response = app.get("/", extra_environ={"wsgi.url_scheme": "https"})
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize(
    "path",
    [
        "/static/site.css",
        "/static/uswds/css/uswds.min.css",
        "/static/uswds/fonts/public-sans/PublicSans-Regular.woff2",
        "/static/login-gov/logo-white.svg",
    ],
)
def test_static_files_are_served_and_cacheable(testapp: webtest.TestApp, path: str) -> None:
    response = testapp.get(path)
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert "max-age=3600" in response.headers["Cache-Control"]


def test_the_stylesheet_makes_public_sans_the_face(testapp: webtest.TestApp) -> None:
    css = testapp.get("/static/site.css").text
    assert 'font-family: "Public Sans Web"' in css
    for face in ("Regular", "Bold", "Italic", "BoldItalic", "Light"):
        testapp.get(f"/static/uswds/fonts/public-sans/PublicSans-{face}.woff2")


def test_production_ini_loads_with_its_environment(
    client_key_file: Path, monkeypatch: pytest.MonkeyPatch, redis_server, tmp_path: Path
) -> None:
    monkeypatch.setenv("LOGINSITE_PUBLIC_URL", "https://apply.example.gov")
    monkeypatch.setenv("LOGINSITE_SESSION_KEYS", f"p1:{SECRET_1}")
    monkeypatch.setenv("LOGINSITE_IDP_CLIENT_ID", "urn:gov:gsa:openidconnect.profiles:sp:sso:x:y")
    monkeypatch.setenv("LOGINSITE_IDP_PRIVATE_KEY", client_key_file.read_text())
    monkeypatch.setenv("LOGINSITE_REVOCATION_REDIS_URL", redis_server.url)
    monkeypatch.setenv("LOGINSITE_REVOCATION_JOURNAL", str(tmp_path / "journal.sqlite3"))
    # production.ini's metrics port (9464) may be taken by a parallel run: any free port.
    monkeypatch.setenv("LOGINSITE_METRICS_LISTEN", "127.0.0.1:0")
    app = webtest.TestApp(get_app(str(ROOT / "production.ini"), "main"))
    response = app.get("/", extra_environ={"wsgi.url_scheme": "https"})
    assert response.status_int == 200
    assert "Strict-Transport-Security" in response.headers


def test_production_ini_without_its_environment_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from loginsite.settings import SettingsError

    for name in ("LOGINSITE_PUBLIC_URL", "LOGINSITE_SESSION_KEYS"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SettingsError, match="loginsite.session.keys"):
        get_app(str(ROOT / "production.ini"), "main")


def test_production_ini_holds_no_secret() -> None:
    text = (ROOT / "production.ini").read_text()
    assert "loginsite.session.keys =" not in text
    assert "PRIVATE KEY" not in text
    assert "loginsite.environment = production" in text


def includeme(config) -> None:
    """Extra views for the error-page tests, loaded through ``pyramid.includes``."""
    from loginsite.resources import Root

    def boom(request):
        raise RuntimeError("a bug")

    config.add_view(boom, context=Root, name="boom")
    config.add_view(
        lambda request: {}, context=Root, name="staff", renderer="home.html", permission="staff"
    )


@pytest.fixture
def app_with_test_views(make_app: Callable[..., object]) -> webtest.TestApp:
    return webtest.TestApp(
        make_app(**{"pyramid.includes": "tests.test_pages"}),
        extra_environ={"HTTP_HOST": "localhost:6543"},
    )


def test_signed_in_user_without_the_permission_gets_a_403_page(app_with_test_views) -> None:
    from pyramid.interfaces import ISecurityPolicy

    policy = app_with_test_views.app.registry.getUtility(ISecurityPolicy)
    value, _ = policy.codec.mint("sub-1", email="a@example.gov", acr="urn:acr.login.gov:verified")
    app_with_test_views.set_cookie("loginsite", value)
    response = app_with_test_views.get("/staff", status=403)
    assert "You do not have access to this page" in response.text
    assert response.html.find("a", href="/account/") is not None


def test_anonymous_visitor_of_a_protected_page_is_sent_to_sign_in(app_with_test_views) -> None:
    response = app_with_test_views.get("/staff", status=303)
    assert response.location == "http://localhost:6543/auth/login?next=%2Fstaff"


def test_a_bug_is_a_friendly_500_page_and_a_log_line(
    app_with_test_views, caplog: pytest.LogCaptureFixture
) -> None:
    response = app_with_test_views.get("/boom", status=500)
    assert "Something went wrong" in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    assert "request.failed" in caplog.text


@pytest.mark.parametrize(
    "url",
    [
        "/%ff",
        "/account/%ff",
        "/static/%ff",
        "/auth/login?next=%ff",
        "/auth/login?level=%ff&locale=%fe",
        "/auth/callback?state=%ff%fe",
        "/auth/callback?error=%ff",
        "/auth/signed-out?state=%ff",
    ],
)
def test_undecodable_addresses_are_a_400_page_not_a_500(
    testapp: webtest.TestApp, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = testapp.get(url, status=400)
    assert "We could not read that address" in response.text
    assert "request.undecodable" in caplog.text


def test_undecodable_form_is_not_a_500(testapp: webtest.TestApp) -> None:
    testapp.post(
        "/auth/logout",
        params=b"\xff\xfe=1",
        content_type="application/x-www-form-urlencoded",
        status=400,
    )
