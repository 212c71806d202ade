"""An account event in a real browser: the provider's page ends the session the user is in.

Chromium signs in through the development provider, then (as a developer would, in another
tab) uses its "Simulate an account event" page; the signed-in tab is signed out on its next
page load. The page passes axe-core like every other page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.plugins.browser import LiveApp, axe_check, screenshot

ALICE = "alice@example.gov"


def test_a_password_reset_at_the_provider_ends_the_session_in_the_browser(
    page: Any, context: Any, live_devidp_app: Callable[..., LiveApp]
) -> None:
    site = live_devidp_app()
    page.goto(site("/account"))
    page.get_by_label(ALICE, exact=False).check()
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in and return to the app").click()
    assert page.locator("h1").inner_text().strip() == "Your account"

    provider = context.new_page()
    provider.goto(site("/_devidp/"))
    with provider.expect_navigation():
        provider.get_by_role("link", name="Simulate an account event").click()
    assert provider.locator("h1").inner_text().strip() == "Simulate an account event"
    axe_check(provider, "simulate an account event")
    provider.get_by_label(ALICE, exact=False).check()
    provider.get_by_label("password-reset", exact=False).check()
    with provider.expect_navigation():
        provider.get_by_role("button", name="Push the event to the app").click()
    status = provider.get_by_role("status")
    assert "The app accepted the event" in status.inner_text()
    assert "202" in status.inner_text()
    axe_check(provider, "account event pushed")
    screenshot(provider, "security-event-pushed")

    page.reload()
    assert page.url.startswith(site("/_devidp/openid_connect/authorize?")), page.url
