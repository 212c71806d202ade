"""The sign-in journeys in a real browser: Chromium against the app served by waitress.

Each journey runs the app with the development identity provider on its own 127.0.0.1 port,
drives it the way a person would (links, buttons, the keyboard) and saves a screenshot of the
page it ends on under test-output/screenshots/.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from loginsite.settings import ACR_VERIFIED
from tests.plugins.browser import LiveApp, axe_check, axe_violations, screenshot

ALICE = "alice@example.gov"
BOB = "bob@example.gov"
SESSION_COOKIE = "loginsite"
PROVIDER_SIGN_IN = "/_devidp/openid_connect/authorize"


@pytest.fixture
def site(live_devidp_app: Callable[..., LiveApp]) -> LiveApp:
    return live_devidp_app()


def heading(page: Any) -> str:
    return page.locator("h1").inner_text().strip()


def header_sign_in(page: Any) -> Any:
    """The Login.gov button at the top right of every page (login.gov's partner guidelines)."""
    return page.get_by_role("banner").get_by_role("link", name="Sign in with Login.gov")


def header_sign_out(page: Any) -> Any:
    return page.get_by_role("banner").get_by_role("button", name="Sign out")


def alert_text(page: Any) -> str:
    return page.locator("main .usa-alert__text").inner_text().strip()


def assert_at_provider_sign_in(page: Any, site: LiveApp) -> None:
    assert page.url.startswith(site(PROVIDER_SIGN_IN) + "?"), page.url
    assert heading(page) == "Sign in"


def approve_at_provider(page: Any, user: str = ALICE, level: str | None = None) -> None:
    """On the provider's sign-in page: pick the user (and level) and go back to the app."""
    page.get_by_label(user, exact=False).check()
    if level is not None:
        page.locator(f"input[name=level][value='{level}']").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in and return to the app").click()


def sign_in(page: Any, site: LiveApp, path: str = "/account", user: str = ALICE) -> None:
    page.goto(site(path))
    assert_at_provider_sign_in(page, site)
    approve_at_provider(page, user)
    assert page.url == site(path)


def session_cookies(context: Any) -> list[dict[str, Any]]:
    return [c for c in context.cookies() if c["name"] == SESSION_COOKIE]


def provider_requests(context: Any) -> list[str]:
    seen: list[str] = []
    context.on("request", lambda r: seen.append(r.url) if "/_devidp/" in r.url else None)
    return seen


def test_journey_1_sign_in_from_the_account_page(page: Any, context: Any, site: LiveApp) -> None:
    page.goto(site("/account"))
    assert_at_provider_sign_in(page, site)
    assert "(authentication only)" in page.locator(".lead").inner_text()

    approve_at_provider(page, ALICE)

    assert page.url == site("/account")
    assert heading(page) == "Your account"
    assert page.locator("main").get_by_text(ALICE).is_visible()
    header = page.get_by_role("navigation", name="Account")
    assert header.get_by_text(ALICE).is_visible()
    assert header.get_by_role("button", name="Sign out").is_visible()
    (cookie,) = session_cookies(context)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/"
    assert cookie["domain"] == "127.0.0.1"  # host-only: no Domain attribute was sent
    screenshot(page, "journey-1-account")

    # On a phone-sized screen the page reflows: nothing needs sideways scrolling.
    page.set_viewport_size({"width": 375, "height": 812})
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    assert header.get_by_role("button", name="Sign out").is_visible()
    screenshot(page, "journey-1-account-phone")


def test_journey_2_a_new_tab_is_still_signed_in(page: Any, context: Any, site: LiveApp) -> None:
    sign_in(page, site)
    to_provider = provider_requests(context)

    tab = context.new_page()
    tab.goto(site("/account"))

    assert tab.url == site("/account")
    assert heading(tab) == "Your account"
    assert tab.locator("main").get_by_text(ALICE).is_visible()
    tab.goto(site("/"))
    assert heading(tab) == "Welcome back"
    assert to_provider == []
    screenshot(tab, "journey-2-new-tab-home")


def test_journey_3_sign_out_from_the_header_button(page: Any, site: LiveApp) -> None:
    sign_in(page, site)
    # Keyboard only: Tab from the top of the page to the header's sign-out button, press Enter.
    sign_out = page.get_by_role("navigation", name="Account").get_by_role("button", name="Sign out")
    for _ in range(10):
        page.keyboard.press("Tab")
        if sign_out.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the header's Sign out button")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    assert page.url.startswith(site("/_devidp/openid_connect/logout?")), page.url
    assert heading(page) == "Sign out"
    with page.expect_navigation():
        page.get_by_role("button", name="Yes, sign out").click()

    assert page.url.startswith(site("/auth/signed-out")), page.url
    assert heading(page) == "You have signed out"
    assert header_sign_in(page).is_visible()
    assert header_sign_out(page).count() == 0
    assert page.get_by_role("navigation", name="Account").count() == 0
    screenshot(page, "journey-3-signed-out")

    page.goto(site("/account"))
    assert_at_provider_sign_in(page, site)


def test_journey_4a_idle_timeout_asks_for_sign_in_again(
    page: Any, live_devidp_app: Callable[..., LiveApp]
) -> None:
    site = live_devidp_app(
        **{"loginsite.session.idle_timeout": "600", "loginsite.session.max_age": "3600"}
    )
    clock = site.use_fake_clock()
    sign_in(page, site)

    clock.advance(599)  # still within the idle window: the visit renews the session
    page.goto(site("/account"))
    assert heading(page) == "Your account"

    clock.advance(601)  # nothing for longer than the idle timeout
    page.goto(site("/account"))
    assert_at_provider_sign_in(page, site)
    screenshot(page, "journey-4a-idle-timeout")


def test_journey_4b_absolute_timeout_ends_even_an_active_session(
    page: Any, live_devidp_app: Callable[..., LiveApp]
) -> None:
    site = live_devidp_app(
        **{"loginsite.session.idle_timeout": "600", "loginsite.session.max_age": "1800"}
    )
    clock = site.use_fake_clock()
    sign_in(page, site)

    for _ in range(3):  # active every 7.5 minutes, never idle for long
        clock.advance(450)
        page.goto(site("/account"))
        assert heading(page) == "Your account"

    clock.advance(451)  # 30 minutes and a second after sign-in, 7.5 minutes after the last visit
    page.goto(site("/account"))
    assert_at_provider_sign_in(page, site)
    screenshot(page, "journey-4b-absolute-timeout")


def test_journey_5_cancelled_sign_in_explains_and_offers_to_try_again(
    page: Any, site: LiveApp
) -> None:
    page.goto(site("/account"))
    assert_at_provider_sign_in(page, site)
    with page.expect_navigation():
        page.get_by_role("button", name="Cancel").click()

    assert page.url.startswith(site("/auth/callback?")), page.url
    assert heading(page) == "You cancelled signing in"
    assert page.locator("main .usa-alert--info").is_visible()  # a notice, not an error
    assert "Error" not in page.locator("main").inner_text()
    try_again = page.locator("main").get_by_role("link", name="Sign in with Login.gov")
    assert try_again.is_visible()
    screenshot(page, "journey-5-cancelled")

    with page.expect_navigation():
        try_again.click()
    assert_at_provider_sign_in(page, site)
    approve_at_provider(page, ALICE)
    assert heading(page) == "Your account"


def test_journey_6_two_tabs_sign_in_at_once(context: Any, site: LiveApp) -> None:
    first, second = context.new_page(), context.new_page()
    first.goto(site("/account"))
    second.goto(site("/account/verified"))
    assert_at_provider_sign_in(first, site)
    assert_at_provider_sign_in(second, site)

    approve_at_provider(first, ALICE)
    approve_at_provider(second, ALICE, level=ACR_VERIFIED)

    assert first.url == site("/account")
    assert heading(first) == "Your account"
    assert second.url == site("/account/verified")
    assert heading(second) == "Identity-verified area"
    first.reload()
    assert "Identity verified" in first.locator("main").inner_text()
    screenshot(first, "journey-6-first-tab")
    screenshot(second, "journey-6-second-tab")


def test_journey_7_step_up_to_the_identity_verified_page(page: Any, site: LiveApp) -> None:
    sign_in(page, site, "/account")
    assert "Authenticated (no identity verification)" in page.locator("main").inner_text()

    page.goto(site("/account/verified"))
    assert_at_provider_sign_in(page, site)
    assert "(identity verified)" in page.locator(".lead").inner_text()
    approve_at_provider(page, ALICE, level=ACR_VERIFIED)

    assert page.url == site("/account/verified")
    assert heading(page) == "Identity-verified area"
    page.goto(site("/account"))
    assert "Identity verified" in page.locator("main").inner_text()
    page.goto(site("/account/verified"))
    assert heading(page) == "Identity-verified area"
    screenshot(page, "journey-7-verified")


def test_every_page_passes_axe(page: Any, site: LiveApp) -> None:
    """axe-core on each distinct page of the journeys; serious or critical findings fail."""
    checked: list[str] = []

    def check(label: str) -> None:
        axe_check(page, label)
        checked.append(label)
        screenshot(page, f"page-{len(checked):02d}-{label}")

    page.goto(site("/"))
    assert heading(page) == "Sign in to Example Service"
    check("home, signed out")

    page.goto(site("/no/such/page"))
    assert heading(page) == "Page not found"
    check("404 page")

    page.goto(site("/account"))
    assert_at_provider_sign_in(page, site)
    check("provider sign-in page")
    with page.expect_navigation():
        page.get_by_role("button", name="Cancel").click()
    assert heading(page) == "You cancelled signing in"
    check("cancelled sign-in page")

    page.goto(site("/account"))
    approve_at_provider(page, ALICE)
    assert heading(page) == "Your account"
    check("account page")

    page.goto(site("/"))
    assert heading(page) == "Welcome back"
    check("home, signed in")

    page.goto(site("/account/verified"))
    assert_at_provider_sign_in(page, site)
    check("provider sign-in page, identity verified")
    approve_at_provider(page, ALICE, level=ACR_VERIFIED)
    assert heading(page) == "Identity-verified area"
    check("identity-verified page")

    page.goto(site("/auth/logout"))
    assert heading(page) == "Sign out"
    check("sign-out confirmation page")
    with page.expect_navigation():
        page.locator("main").get_by_role("button", name="Sign out").click()
    assert heading(page) == "Sign out"
    check("provider sign-out confirmation")
    with page.expect_navigation():
        page.get_by_role("button", name="Yes, sign out").click()
    assert heading(page) == "You have signed out"
    check("signed-out page")

    page.goto(site("/auth/callback?state=nothing-started-here&code=x"))
    assert heading(page) == "This sign-in has expired"
    check("expired sign-in page")

    page.goto(site("/_devidp/"))
    check("provider home page")
    assert len(checked) == 13


def test_keyboard_reaches_the_sign_in_button_with_a_visible_focus_ring(
    page: Any, site: LiveApp
) -> None:
    page.goto(site("/"))
    button = header_sign_in(page)
    seen = []
    for _ in range(10):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("() => document.activeElement.textContent.trim()"))
        if button.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail(f"Tab never reached the sign-in button; focus went to {seen}")
    assert seen[0] == "Skip to main content"
    focus = button.evaluate(
        """el => {
            const s = getComputedStyle(el);
            return {visible: el.matches(':focus-visible'), style: s.outlineStyle,
                    width: parseFloat(s.outlineWidth), color: s.outlineColor};
        }"""
    )
    assert focus["visible"] is True
    assert focus["style"] not in ("none", "hidden")
    assert focus["width"] >= 2
    screenshot(page, "keyboard-focus-on-sign-in-button")

    # Enter follows it, and the whole provider page can be done from the keyboard too.
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert_at_provider_sign_in(page, site)
    approve = page.get_by_role("button", name="Sign in and return to the app")
    for _ in range(20):
        page.keyboard.press("Tab")
        if approve.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the provider's sign-in button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert heading(page) == "Your account"


def test_skip_link_appears_on_focus_and_moves_to_the_main_content(page: Any, site: LiveApp) -> None:
    page.goto(site("/"))
    skip = page.get_by_role("link", name="Skip to main content")
    hidden = skip.bounding_box()
    assert hidden is None or hidden["y"] + hidden["height"] <= 0 or hidden["x"] < 0  # off-screen
    page.keyboard.press("Tab")
    # USWDS slides the link in (0.15 s): wait until it is on screen.
    page.wait_for_function("el => el.getBoundingClientRect().top >= 0", arg=skip.element_handle())
    box = skip.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["y"] >= 0
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"


def test_the_accessibility_check_is_not_vacuous(page: Any, site: LiveApp) -> None:
    """The same check fails on a page that has the problems it looks for."""
    page.goto(site("/"))
    page.evaluate(
        """() => {
            const main = document.querySelector('main');
            const img = document.createElement('img');
            img.src = '/static/none.png';
            main.append(img);
            const button = document.createElement('button');
            main.append(button);
        }"""
    )
    found = {v["id"]: v["impact"] for v in axe_violations(page)}
    assert found.get("image-alt") == "critical"
    assert found.get("button-name") == "critical"
    with pytest.raises(pytest.fail.Exception, match="button-name"):
        axe_check(page, "a page with known problems")


def test_provider_unavailable_says_what_happened_and_what_to_do(
    page: Any, live_server: Callable[[], Any], make_app: Callable[..., Any]
) -> None:
    server = live_server()
    # The default test settings point the provider at 127.0.0.1:9, where nothing listens.
    server.start(make_app(**{"loginsite.public_url": server.url}))
    page.goto(server.url + "/")
    with page.expect_navigation():
        header_sign_in(page).click()

    assert page.url == server.url + "/auth/login"
    assert heading(page) == "Login.gov is not available right now"
    assert page.get_by_role("link", name="Try signing in again").is_visible()
    assert "reference" in page.locator("main").inner_text()
    axe_check(page, "provider unavailable page")
    screenshot(page, "provider-unavailable")


def includeme(config: Any) -> None:
    """Test-only: a page the signed-in user is not allowed to see (``pyramid.includes``)."""
    from pyramid.httpexceptions import HTTPForbidden

    from loginsite.resources import Root

    def staff_only(request: Any) -> Any:
        raise HTTPForbidden()

    config.add_view(staff_only, context=Root, name="staff-only")


def test_not_allowed_says_what_happened_and_what_to_do(
    page: Any, live_devidp_app: Callable[..., LiveApp]
) -> None:
    site = live_devidp_app(**{"pyramid.includes": "loginsite.devidp tests.test_browser_journeys"})
    sign_in(page, site)
    page.goto(site("/staff-only"))

    assert heading(page) == "You do not have access to this page"
    assert "You are signed in" in page.locator("main").inner_text()
    assert page.get_by_role("link", name="Go to your account").is_visible()
    axe_check(page, "not allowed page")
    screenshot(page, "not-allowed")


def test_journey_8_a_stale_tab_signs_out_everywhere(
    new_context: Callable[..., Any], live_devidp_app: Callable[..., LiveApp]
) -> None:
    """A phone's tab left open past the idle timeout still ends the laptop's session."""
    site = live_devidp_app(**{"loginsite.session.idle_timeout": "4"})  # real time, real cookies
    phone, laptop = new_context().new_page(), new_context().new_page()
    sign_in(phone, site)
    sign_in(laptop, site)  # the same person on another device

    until = time.monotonic() + 5.5  # the phone's tab sits idle; the laptop stays in use
    while time.monotonic() < until:
        laptop.goto(site("/account"))
        assert heading(laptop) == "Your account"
        time.sleep(0.5)
    assert session_cookies(phone.context), "Chromium must still hold the idle tab's cookie"

    with phone.expect_navigation():
        phone.get_by_role("button", name="Sign out everywhere").click()
    assert heading(phone) == "Sign out"  # the provider's own confirmation
    with phone.expect_navigation():
        phone.get_by_role("button", name="Yes, sign out").click()
    assert heading(phone) == "You have signed out everywhere"
    assert "Every session of your account has ended" in alert_text(phone)
    screenshot(phone, "journey-8-stale-tab-signed-out-everywhere")

    laptop.goto(site("/account"))
    assert_at_provider_sign_in(laptop, site)
