"""Sign-out and the signed-out page: revoke what a verifying cookie names, say only what was done.

The app's real client signs in against the test provider over real HTTP; WebTest plays the
browsers. The multi-instance, real-Redis versions of these are in test_revocation_instances.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import webtest
from pyramid.interfaces import ISecurityPolicy

from loginsite.auth.views import FLOW_KEY
from loginsite.revocation import STORE_KEY, RevocationUnavailable
from loginsite.revocation.memory import MemoryRevocationStore
from tests.plugins.clock import FakeClock
from tests.plugins.oidc_provider import TestProvider

PUBLIC_URL = "https://app.example.test"
SESSION_COOKIE = "__Host-loginsite"
SIGNOUT_COOKIE = "__Host-loginsite_signout"
IDLE = 900
#: Pyramid checks the Origin (or Referer) of https POSTs: a browser on the site sends this.
SAME_SITE = {"Origin": PUBLIC_URL}


class SwitchableStore(MemoryRevocationStore):
    """The memory store, whose reads and writes a test can make fail as an outage would."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock=clock)
        self.reads_down = False
        self.writes_down = False
        self.writes_refused = 0

    def is_revoked(self, session_id: str, sub: str, signed_in_at: int) -> bool:
        if self.reads_down:
            raise RevocationUnavailable("the test took the list down")
        return super().is_revoked(session_id, sub, signed_in_at)

    def revoke_session(self, session_id: str, expires_at: int) -> None:
        self._refuse_if_down()
        super().revoke_session(session_id, expires_at)

    def revoke_user(self, sub: str, not_before: int, expires_at: int) -> None:
        self._refuse_if_down()
        super().revoke_user(sub, not_before, expires_at)

    def _refuse_if_down(self) -> None:
        if self.writes_down:
            self.writes_refused += 1
            raise RevocationUnavailable("not even the journal could record it")


@dataclass
class Site:
    app: Any
    clock: FakeClock
    store: SwitchableStore
    provider: TestProvider

    def browser(self) -> webtest.TestApp:
        return webtest.TestApp(
            self.app, extra_environ={"wsgi.url_scheme": "https", "HTTP_HOST": "app.example.test"}
        )

    def signed_in_browser(self) -> webtest.TestApp:
        browser = self.browser()
        login = browser.get("/auth/login?next=/account", status=303)
        params = self.provider.authorize(login.location)
        browser.get("/auth/callback", params=params, status=303)
        assert browser.get("/account").status_int == 200
        return browser

    def copy_of(self, browser: webtest.TestApp) -> webtest.TestApp:
        """Another browser holding a copy of ``browser``'s session cookie."""
        thief = self.browser()
        thief.set_cookie(SESSION_COOKIE, browser.cookies[SESSION_COOKIE])
        return thief

    def signed_out_page(self, logout: webtest.TestResponse, browser: webtest.TestApp) -> Any:
        """Follow the provider's logout back to the signed-out page, with its state."""
        query = parse_qs(urlsplit(logout.location).query)
        return browser.get("/auth/signed-out", params={"state": query["state"][0]}, status=200)


@pytest.fixture
def site(make_app: Callable[..., Any], test_provider: TestProvider, tmp_path: Path) -> Site:
    key_file = tmp_path / "client.pem"
    key_file.write_bytes(test_provider.client_private_key_pem)
    app = make_app(
        **{
            "loginsite.public_url": PUBLIC_URL,
            "loginsite.session.secure": "true",
            "loginsite.session.idle_timeout": str(IDLE),
            "loginsite.idp.issuer": test_provider.issuer,
            "loginsite.idp.client_id": test_provider.client_id,
            "loginsite.idp.private_key": str(key_file),
            "loginsite.idp.timeout": "2",
        }
    )
    clock = FakeClock()
    policy = app.registry.getUtility(ISecurityPolicy)
    policy.codec.clock = clock
    store = SwitchableStore(clock)
    policy.revocations = store
    app.registry[FLOW_KEY].revocations = store
    app.registry[STORE_KEY] = store
    return Site(app, clock, store, test_provider)


def sign_out_form(page: webtest.TestResponse, *, everywhere: bool = False) -> webtest.Form:
    return next(
        form
        for form in page.forms.values()
        if form.action == "/auth/logout" and ("everywhere" in form.fields) == everywhere
    )


def csrf_token(browser: webtest.TestApp) -> str:
    """A CSRF token that ``browser`` may send: the cookie it double-submits is its own."""
    token = "attacker-chosen-csrf-token-0123456789"
    browser.set_cookie("__Host-csrf", token)
    return token


def is_signed_in(browser: webtest.TestApp) -> bool:
    return browser.get("/account").status_int == 200


def stale_copy(site: Site, browser: webtest.TestApp) -> webtest.TestApp:
    """Leave ``browser`` idle past the idle timeout while a copy of its session stays in use.

    The copy is renewed (same session, later expiry), so it outlives the original: only a
    revocation of the session can end it.
    """
    copy = site.copy_of(browser)
    site.clock.advance(IDLE * 0.6)
    renewed = copy.get("/account", status=200)
    assert any(c.startswith(SESSION_COOKIE + "=ey") for c in renewed.headers.getall("Set-Cookie"))
    site.clock.advance(IDLE * 0.6)
    assert not is_signed_in(site.copy_of(browser)), "the original must be idle-expired"
    assert is_signed_in(copy)
    return copy


# Revoking what the cookie names, whatever else fails


def test_an_idle_expired_tab_signing_out_ends_the_renewed_copy(site: Site) -> None:
    tab = site.signed_in_browser()
    page = tab.get("/account")
    copy = stale_copy(site, tab)
    logout = sign_out_form(page).submit(status=303)
    assert not is_signed_in(copy)
    assert "You have signed out" in site.signed_out_page(logout, tab).text


def test_a_stale_tabs_sign_out_everywhere_ends_the_other_device(site: Site) -> None:
    tab = site.signed_in_browser()
    other_device = site.signed_in_browser()  # the same user, on another device
    page = tab.get("/account")
    site.clock.advance(IDLE * 0.6)
    assert is_signed_in(other_device)  # in use, so renewed; the tab sits idle
    site.clock.advance(IDLE * 0.6)
    assert not is_signed_in(site.copy_of(tab)), "the tab's session must be idle-expired"
    assert is_signed_in(other_device)
    logout = sign_out_form(page, everywhere=True).submit(status=303)
    assert not is_signed_in(other_device)
    done = site.signed_out_page(logout, tab)
    assert "Every session of your account has ended" in done.text


def test_sign_out_while_the_list_cannot_be_checked_is_not_lost(site: Site) -> None:
    browser = site.signed_in_browser()
    page = browser.get("/account")
    copy = site.copy_of(browser)
    site.store.reads_down = True
    assert browser.get("/account", status=503)  # anonymous for now: identity is None
    logout = sign_out_form(page).submit(status=303)
    assert logout.headers["Location"].startswith(site.provider.url("logout"))
    assert "You have signed out" in site.signed_out_page(logout, browser).text
    site.store.reads_down = False
    assert not is_signed_in(copy)


def test_the_sign_out_page_offers_its_button_while_the_list_cannot_be_checked(
    site: Site,
) -> None:
    browser = site.signed_in_browser()
    copy = site.copy_of(browser)
    site.store.reads_down = True
    confirm = browser.get("/auth/logout", status=200)
    assert "You are not signed in" not in confirm.text
    sign_out_form(confirm).submit(status=303)
    site.store.reads_down = False
    assert not is_signed_in(copy)
    assert "You are not signed in" in site.browser().get("/auth/logout").text


def test_sign_out_everywhere_while_the_list_cannot_be_checked(site: Site) -> None:
    phone = site.signed_in_browser()
    laptop = site.signed_in_browser()
    page = phone.get("/account")
    site.store.reads_down = True
    logout = sign_out_form(page, everywhere=True).submit(status=303)
    assert "Every session of your account has ended" in site.signed_out_page(logout, phone).text
    site.store.reads_down = False
    assert not is_signed_in(laptop)


def test_a_cookie_that_does_not_verify_revokes_nothing(site: Site) -> None:
    victim = site.signed_in_browser()
    value = victim.cookies[SESSION_COOKIE]
    header, payload, signature = value.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"  # the victim's jti, a bad signature
    attacker = site.browser()
    token = csrf_token(attacker)
    attacker.set_cookie(SESSION_COOKIE, forged)
    logout = attacker.post("/auth/logout", {"csrf_token": token}, headers=SAME_SITE, status=303)
    assert is_signed_in(victim)
    done = site.signed_out_page(logout, attacker)
    assert "You were not signed in" in done.text
    assert "has ended" not in done.text


def test_sign_out_everywhere_with_a_forged_cookie_ends_nothing(site: Site) -> None:
    victim = site.signed_in_browser()
    header, payload, _ = victim.cookies[SESSION_COOKIE].split(".")
    attacker = site.browser()
    token = csrf_token(attacker)
    attacker.set_cookie(SESSION_COOKIE, f"{header}.{payload}.{'A' * 43}")
    form = {"csrf_token": token, "everywhere": "1"}
    attacker.post("/auth/logout", form, headers=SAME_SITE, status=303)
    assert is_signed_in(victim)


def test_a_step_up_that_comes_back_after_the_idle_timeout_revokes_the_old_session(
    site: Site,
) -> None:
    browser = site.signed_in_browser()
    # Identity verification at the provider can take longer than the idle timeout.
    step_up = browser.get("/auth/login?next=/account&level=verified", status=303)
    copy = stale_copy(site, browser)
    params = site.provider.authorize(step_up.location)
    browser.get("/auth/callback", params=params, status=303)
    assert is_signed_in(browser)
    assert not is_signed_in(copy)


def test_a_sign_in_replacing_a_session_during_an_outage_revokes_it(site: Site) -> None:
    browser = site.signed_in_browser()
    copy = site.copy_of(browser)
    site.store.reads_down = True
    login = browser.get("/auth/login?next=/account", status=303)
    browser.get("/auth/callback", params=site.provider.authorize(login.location), status=303)
    site.store.reads_down = False
    assert is_signed_in(browser)
    assert not is_signed_in(copy)


# The signed-out page says what really happened


def test_a_revocation_that_could_not_be_recorded_is_said_so(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    browser = site.signed_in_browser()
    page = browser.get("/account")
    site.store.writes_down = True
    logout = sign_out_form(page, everywhere=True).submit(status=303)
    assert site.store.writes_refused == 1
    assert logout.headers.getall("Set-Cookie")  # this browser's cookie is cleared all the same
    assert any(c.startswith(SESSION_COOKIE + "=;") for c in logout.headers.getall("Set-Cookie"))
    done = site.signed_out_page(logout, browser)
    assert "We could not record your sign-out" in done.text
    assert "You have signed out" not in done.text
    assert "has ended" not in done.text
    assert "auth.sign_out_not_recorded" in caplog.text


def test_sign_out_everywhere_that_could_only_end_this_session_is_said_so(site: Site) -> None:
    phone = site.signed_in_browser()
    laptop = site.signed_in_browser()
    page = phone.get("/account")
    calls: list[str] = []
    original = site.store.revoke_user

    def revoke_user_fails(sub: str, not_before: int, expires_at: int) -> None:
        calls.append(sub)
        raise RevocationUnavailable("not even the journal could record it")

    site.store.revoke_user = revoke_user_fails  # type: ignore[method-assign]
    logout = sign_out_form(page, everywhere=True).submit(status=303)
    site.store.revoke_user = original  # type: ignore[method-assign]
    assert calls == [site.provider.sub]
    done = site.signed_out_page(logout, phone)
    assert "You have signed out here, but not everywhere" in done.text
    assert "Every session" not in done.text
    assert is_signed_in(laptop)


def test_a_plain_sign_out_never_claims_every_session(site: Site) -> None:
    browser = site.signed_in_browser()
    logout = sign_out_form(browser.get("/account")).submit(status=303)
    done = site.signed_out_page(logout, browser)
    assert "Your session on this site has ended" in done.text
    assert "Every session" not in done.text


def test_opened_directly_by_a_signed_in_user_it_claims_no_sign_out(site: Site) -> None:
    browser = site.signed_in_browser()
    for query in ({}, {"state": "made-up-state-0123456789abcdef"}):
        page = browser.get("/auth/signed-out", params=query, status=200)
        assert "You are still signed in" in page.text
        assert "You have signed out" not in page.text
        assert "has ended" not in page.text
        assert sign_out_form(page) is not None
    assert is_signed_in(browser)


@pytest.mark.parametrize("leftover", ["x.1", "x.e", "state.e.1700000000.forged"])
def test_a_leftover_sign_out_cookie_claims_nothing(site: Site, leftover: str) -> None:
    browser = site.browser()
    browser.set_cookie(SIGNOUT_COOKIE, leftover)
    state = leftover.partition(".")[0]
    page = browser.get("/auth/signed-out", params={"state": state}, status=200)
    assert "No sign-out to confirm" in page.text
    assert "Every session" not in page.text
    assert "You have signed out" not in page.text


def test_another_sign_outs_state_claims_nothing(site: Site) -> None:
    first = site.signed_in_browser()
    logout = sign_out_form(first.get("/account"), everywhere=True).submit(status=303)
    first_state = parse_qs(urlsplit(logout.location).query)["state"][0]
    other = site.browser()  # never signed out; the state leaked to it, not the receipt
    page = other.get("/auth/signed-out", params={"state": first_state}, status=200)
    assert "Every session" not in page.text
    assert "No sign-out to confirm" in page.text


def test_the_receipt_is_single_use(site: Site) -> None:
    browser = site.signed_in_browser()
    logout = sign_out_form(browser.get("/account"), everywhere=True).submit(status=303)
    assert "Every session" in site.signed_out_page(logout, browser).text
    again = site.signed_out_page(logout, browser)
    assert "Every session" not in again.text


def test_with_the_none_store_sign_out_says_it_ended_only_this_browsers_copy(
    make_app: Callable[..., Any],
) -> None:
    app = make_app(**{"loginsite.revocation.store": "none"})
    browser = webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost:6543"})
    value, _ = app.registry.getUtility(ISecurityPolicy).codec.mint(
        "sub-1", email=None, acr="urn:acr.login.gov:auth-only"
    )
    browser.set_cookie("loginsite", value)
    logout = sign_out_form(browser.get("/account"), everywhere=True).submit(status=303)
    # Port 9 has no provider: the app sends the browser straight to its own signed-out page.
    assert logout.location.startswith("http://localhost:6543/auth/signed-out?state=")
    done = browser.get(logout.location.removeprefix("http://localhost:6543"), status=200)
    assert "You have signed out of this browser only" in done.text
    assert "other devices stay signed in" in done.text
