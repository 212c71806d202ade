"""examples/hostapp, a URL-dispatch app with loginsite included, served by ``pserve`` from its
own development.ini, signing in and out through the embedded development provider over HTTP.

The INI is used as shipped: only what must differ per test run comes from the environment (the
port, in ``LOGINSITE_PUBLIC_URL``, and the key files), exactly as an operator would override it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from localservers.redis_server import free_port, terminate
from tests.plugins.devidp_browser import DevIdpBrowser

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "hostapp"
INI = EXAMPLE / "development.ini"
VERIFIED = "urn:acr.login.gov:verified"
START_TIMEOUT = 90.0  # a loaded machine (2 cores, many test runs) starts pserve slowly


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``loginsite-devsetup`` then ``pserve`` on the example's INI, as its README says."""
    var = tmp_path_factory.mktemp("hostapp")
    url = f"http://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "PYTHONPATH": str(EXAMPLE),
        "LOGINSITE_PUBLIC_URL": url,
        "LOGINSITE_SESSION_KEYS_FILE": str(var / "session-keys"),
        "LOGINSITE_IDP_PRIVATE_KEY": str(var / "client-private.pem"),
        "LOGINSITE_DEVIDP_DATA_DIR": str(var),
    }
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "loginsite-devsetup"), str(INI)], env=env, check=True, timeout=60)
    log = (var / "pserve.log").open("wb")
    process = subprocess.Popen(
        [str(bin_dir / "pserve"), str(INI)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail("pserve exited:\n" + (var / "pserve.log").read_text())
            try:
                requests.get(url + "/", timeout=1)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"pserve did not answer in {START_TIMEOUT} s:\n"
                        + (var / "pserve.log").read_text()
                    )
                time.sleep(0.1)
        yield url
    finally:
        terminate(process)
        log.close()


@pytest.fixture
def browser(site: str) -> Iterator[DevIdpBrowser]:
    browser = DevIdpBrowser(site)
    yield browser
    browser.close()


def test_the_home_page_is_the_apps_own_with_a_sign_in_link(browser: DevIdpBrowser) -> None:
    home = browser.get("/")
    assert home.status_code == 200
    assert "<h1>Welcome to the example benefits portal</h1>" in home.text
    assert '<a href="/auth/login">Sign in</a>' in home.text


def test_sign_in_opens_the_protected_view_and_sign_out_closes_it(
    browser: DevIdpBrowser,
) -> None:
    assert browser.get("/reports").headers["Location"].endswith("/auth/login?next=%2Freports")

    back = browser.sign_in("/reports", "/auth/login?next=%2Freports", user="alice@example.gov")
    reports = browser.follow(back, "/reports")
    assert reports.status_code == 200
    assert "<h1>Your reports</h1>" in reports.text
    assert "Reports for alice@example.gov." in reports.text
    assert "Signed in as alice@example.gov" in reports.text  # the app's layout knows who

    signed_out = browser.sign_out("/auth/logout", reports)
    assert browser.path(signed_out.url).startswith("/auth/signed-out?state=")
    assert signed_out.status_code == 200
    # loginsite's page, inside the app's layout.
    assert "<title>You have signed out · Example benefits portal</title>" in signed_out.text
    assert "An example app for loginsite (examples/hostapp)." in signed_out.text
    assert browser.get("/reports").status_code == 303


def test_the_sign_out_confirmation_renders_in_the_apps_layout(browser: DevIdpBrowser) -> None:
    page = browser.get("/auth/logout")
    assert page.status_code == 200
    assert "<title>Sign out · Example benefits portal</title>" in page.text
    assert "You are not signed in." in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    signed_in = browser.follow(browser.sign_in("/reports", "/auth/login"), "/reports")
    confirm = browser.get("/auth/logout")
    assert signed_in.status_code == 200
    assert "Do you want to sign out of Example benefits portal?" in confirm.text


def test_a_verified_page_steps_a_basic_sign_in_up(browser: DevIdpBrowser) -> None:
    back = browser.sign_in("/reports", "/auth/login")
    assert browser.follow(back, "/reports").status_code == 200

    step_up = browser.get("/benefits")
    assert step_up.headers["Location"].endswith("/auth/login?next=%2Fbenefits&level=verified")
    back = browser.sign_in(
        "/benefits", "/auth/login?next=%2Fbenefits&level=verified", level=VERIFIED
    )
    benefits = browser.follow(back, "/benefits")
    assert benefits.status_code == 200
    assert "Login.gov verified your identity" in benefits.text


def test_the_embedded_development_provider_serves_its_pages_and_style(
    browser: DevIdpBrowser,
) -> None:
    page = browser.follow(browser.get("/auth/login"), "/_devidp/openid_connect/authorize")
    assert "Development identity provider — not login.gov" in page.text
    assert 'href="/auth/static/devidp.css"' in page.text
    style = browser.get("/auth/static/devidp.css")
    assert style.status_code == 200
    assert style.headers["Content-Type"].startswith("text/css")
