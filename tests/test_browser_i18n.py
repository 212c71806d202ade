"""English and Spanish in a real browser: the switch persists across pages and reaches
login.gov (the development provider) as ``locale``; the browser's language is honoured; the
Spanish pages pass axe-core at desktop and phone sizes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.plugins.browser import LiveApp, axe_check, screenshot

ALICE = "alice@example.gov"
PROVIDER_SIGN_IN = "/_devidp/openid_connect/authorize"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def site(live_devidp_app: Callable[..., LiveApp]) -> LiveApp:
    return live_devidp_app()


def heading(page: Any) -> str:
    return page.locator("h1").inner_text().strip()


def page_language(page: Any) -> str:
    return page.locator("html").get_attribute("lang")


def authorize_requests(context: Any) -> list[str]:
    """The authorization requests (GET) the browser makes to the provider, as they happen."""
    seen: list[str] = []

    def record(request: Any) -> None:
        if request.method == "GET" and urlsplit(request.url).path == PROVIDER_SIGN_IN:
            seen.append(request.url)

    context.on("request", record)
    return seen


def locale_sent(url: str) -> list[str]:
    return parse_qs(urlsplit(url).query).get("locale", [])


def approve_at_provider(page: Any, user: str = ALICE) -> None:
    page.get_by_label(user, exact=False).check()
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in and return to the app").click()


def switch_to(page: Any, name: str) -> None:
    with page.expect_navigation():
        page.locator(".usa-language__link").get_by_text(name, exact=True).click()


def test_the_switch_persists_and_reaches_login_gov(context: Any, page: Any, site: LiveApp) -> None:
    requests = authorize_requests(context)
    page.goto(site("/"))
    assert page_language(page) == "en"
    assert heading(page) == "Sign in to Example Service"

    switch_to(page, "Español")
    assert page.url == site("/")
    assert page_language(page) == "es"
    assert heading(page) == "Inicie sesión en Example Service"
    banner = page.locator(".usa-banner__header-text")
    assert banner.inner_text() == "Un sitio oficial del Gobierno de Estados Unidos"
    screenshot(page, "i18n-home-es")

    # Another page, and the sign-in: still Spanish, and login.gov is asked for Spanish.
    page.goto(site("/account"))
    assert page.url.startswith(site(PROVIDER_SIGN_IN) + "?")
    assert [locale_sent(url) for url in requests] == [["es"]]
    approve_at_provider(page)
    assert page.url == site("/account")
    assert page_language(page) == "es"
    assert heading(page) == "Su cuenta"
    assert page.locator(".signed-in-as").inner_text() == f"Sesión iniciada como {ALICE}"
    axe_check(page, "account page in Spanish")
    screenshot(page, "i18n-account-es")

    # Back to English from the account page: it comes back to the same page.
    switch_to(page, "English")
    assert page.url == site("/account")
    assert page_language(page) == "en"
    assert heading(page) == "Your account"
    with page.expect_navigation():
        page.locator("header").get_by_role("button", name="Sign out").click()
    page.goto(site("/account"))
    assert [locale_sent(url) for url in requests] == [["es"], ["en"]]


def test_the_browsers_language_chooses_until_the_visitor_does(
    new_context: Callable[..., Any], site: LiveApp
) -> None:
    context = new_context(locale="es-MX")
    page = context.new_page()
    page.goto(site("/"))
    assert page_language(page) == "es"
    assert page.locator(".usa-language__link").inner_text() == "English"
    switch_to(page, "English")
    assert page_language(page) == "en"
    page.goto(site("/nowhere"))
    assert heading(page) == "Page not found"  # the choice beats the browser's language


def test_the_switch_works_without_javascript(
    new_context: Callable[..., Any], site: LiveApp
) -> None:
    page = new_context(java_script_enabled=False).new_page()
    page.goto(site("/privacy"))
    switch_to(page, "Español")
    assert page.url == site("/privacy")
    assert heading(page) == "Política de privacidad"


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_spanish_pages_pass_axe(
    new_context: Callable[..., Any], site: LiveApp, viewport: dict[str, int] | None
) -> None:
    context = new_context(locale="es", **({"viewport": viewport} if viewport else {}))
    page = context.new_page()
    size = "phone" if viewport else "desktop"
    for path, title in [
        ("/", "Inicie sesión en Example Service"),
        ("/nowhere", "No se encontró la página"),
        ("/auth/logout", "Cerrar sesión"),
        ("/auth/signed-out", "No hay ningún cierre de sesión que confirmar"),
        ("/privacy", "Política de privacidad"),
    ]:
        page.goto(site(path))
        assert page_language(page) == "es"
        assert heading(page) == title
        axe_check(page, f"{path} in Spanish ({size})")
    # The banner's explanation opens (USWDS's script), in Spanish too.
    page.goto(site("/"))
    page.locator(".usa-banner__button").click()
    explanation = page.locator("#gov-banner")
    assert explanation.get_by_text("Los sitios web oficiales usan .gov").is_visible()
    axe_check(page, f"home with the banner open in Spanish ({size})")
    screenshot(page, f"i18n-home-banner-open-es-{size}")
