"""development.ini as shipped: served over real HTTP, a sign-in logs no code, state or token."""

from __future__ import annotations

import configparser
import html
import logging
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from pyramid.paster import get_app

from loginsite.scripts import devsetup
from tests.plugins.live_server import LiveServer

ROOT = Path(__file__).resolve().parent.parent
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@pytest.fixture
def development_site(tmp_path: Path, live_server: Callable[[], LiveServer]) -> LiveServer:
    """The shipped development.ini, unchanged but for the port, with its keys in tmp_path."""
    server = live_server()
    text = (ROOT / "development.ini").read_text()
    text, found = re.subn(
        r"^loginsite\.public_url = .*$", f"loginsite.public_url = {server.url}", text, flags=re.M
    )
    assert found == 1
    ini = tmp_path / "development.ini"
    ini.write_text(text)
    assert devsetup.main([str(ini)]) == 0
    return server.start(get_app(str(ini), "main"))


def _levels() -> dict[str, int]:
    """The logger levels development.ini configures: qualname -> level ("" for the root)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "development.ini")
    levels = {}
    for key in parser["loggers"]["keys"].split(","):
        section = parser[f"logger_{key.strip()}"]
        levels[section.get("qualname", "")] = logging.getLevelName(section["level"])
    return levels


def _emitted(record: logging.LogRecord) -> bool:
    """Would development.ini's logging configuration write this record?"""
    levels = _levels()
    name = record.name
    while name and name not in levels:
        name = name.rpartition(".")[0]
    return record.levelno >= levels.get(name, levels[""])


def _get(browser: requests.Session, url: str) -> requests.Response:
    return browser.get(url, allow_redirects=False, timeout=10)


def test_a_sign_in_logs_no_code_state_nonce_or_token(
    development_site: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # then kept: what development.ini's levels let through
    site, browser = development_site.url, requests.Session()
    login = _get(browser, site + "/auth/login?next=/account")
    assert login.status_code == 303
    authorize_url = login.headers["Location"]
    request = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    page = _get(browser, authorize_url)
    assert page.status_code == 200
    form = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
    approved = browser.post(
        authorize_url.split("?")[0],
        data={**form, "user": "alice@example.gov", "action": "approve"},
        allow_redirects=False,
        timeout=10,
    )
    assert approved.status_code == 303
    callback_url = approved.headers["Location"].replace(
        "http://localhost:6543", site
    )  # (the provider redirects to public_url, which is this server)
    answer = {k: v[0] for k, v in parse_qs(urlsplit(callback_url).query).items()}
    # Requests that end in the error views, with the code and state in their address.
    assert _get(browser, callback_url + "&x=%ff").status_code == 400
    assert _get(browser, site + "/no/such/page?code=" + answer["code"]).status_code == 404
    done = _get(browser, callback_url)
    assert done.status_code == 303
    assert _get(browser, site + "/account").status_code == 200
    assert _get(browser, callback_url).status_code == 400  # a replay
    secrets_seen = {
        "code": answer["code"],
        "state": answer["state"],
        "nonce": request["nonce"],
        "code_challenge": request["code_challenge"],
        "session cookie": browser.cookies.get("loginsite"),
    }
    assert all(secrets_seen.values())
    logged = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()}" for r in caplog.records if _emitted(r)
    )
    assert "auth.signed_in" in logged  # the log was captured at all
    for what, value in secrets_seen.items():
        assert value not in logged, f"the {what} is in the log"


def test_development_ini_serves_no_debug_toolbar(development_site: LiveServer) -> None:
    """It kept every request's URL, headers and cookies, and logged URLs of handled errors."""
    assert requests.get(development_site.url + "/_debug_toolbar/", timeout=10).status_code == 404
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "development.ini")
    assert "pyramid_debugtoolbar" not in parser["app:main"]["pyramid.includes"]
