"""The pages in Chromium, in English and Spanish: USWDS's banner and identifier, login.gov's
button rules, Public Sans, and axe-core with no violation at all on every page, at desktop and
phone sizes.

One app and one browser context per language walk every page of every journey, so this stays a
few seconds of browser time; each page is saved as test-output/screenshots/pages-*.png (both
languages, desktop and phone) for a person.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from loginsite.settings import ACR_VERIFIED
from tests.plugins.browser import LiveApp, axe_violations, format_violations, screenshot
from tests.test_browser_journeys import (
    ALICE,
    approve_at_provider,
    assert_at_provider_sign_in,
    header_sign_in,
    header_sign_out,
    heading,
)

DESKTOP = {"width": 1024, "height": 768}
PHONE = {"width": 375, "height": 812}
USWDS_PRIMARY = "rgb(0, 94, 162)"

#: Text elements whose computed font is not Public Sans (code is Roboto Mono, as in USWDS).
OTHER_FONTS = """() => {
    const off = [];
    for (const el of document.querySelectorAll('body *')) {
        const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
        if (!own || !el.getClientRects().length || el.closest('code, pre, kbd')) continue;
        const first = getComputedStyle(el).fontFamily.split(',')[0].replace(/["']/g, '').trim();
        if (first !== 'Public Sans Web') off.push(el.tagName + '.' + el.className + ': ' + first);
    }
    return off;
}"""


@pytest.fixture
def site(live_devidp_app: Callable[..., LiveApp]) -> LiveApp:
    return live_devidp_app(**{"pyramid.includes": "loginsite.devidp tests.test_browser_journeys"})


#: What the walk reads on the pages, in each language (the development provider is English).
TEXT = {
    "en": {
        "banner": "An official website of the United States government",
        "privacy": "Privacy policy",
        "sign in": "Sign in with Login.gov",
        "sign out": "Sign out",
        "home": "Sign in to Example Service",
        "not found": "Page not found",
        "about": "About",
        "signed out unconfirmed": "No sign-out to confirm",
        "expired": "This sign-in has expired",
        "cancelled": "You cancelled signing in",
        "account": "Your account",
        "welcome": "Welcome back",
        "forbidden": "You do not have access to this page",
        "step-up cancelled": "You did not verify your identity",
        "retry step-up": "Try verifying your identity again",
        "verified": "Identity-verified area",
        "signed out": "You have signed out",
    },
    "es": {
        "banner": "Un sitio oficial del Gobierno de Estados Unidos",
        "privacy": "Política de privacidad",
        "sign in": "Iniciar sesión con Login.gov",
        "sign out": "Cerrar sesión",
        "home": "Inicie sesión en Example Service",
        "not found": "No se encontró la página",
        "about": "Acerca de",
        "signed out unconfirmed": "No hay ningún cierre de sesión que confirmar",
        "expired": "Este inicio de sesión ha vencido",
        "cancelled": "Usted canceló el inicio de sesión",
        "account": "Su cuenta",
        "welcome": "Le damos la bienvenida de nuevo",
        "forbidden": "No tiene acceso a esta página",
        "step-up cancelled": "No verificó su identidad",
        "retry step-up": "Intentar verificar su identidad de nuevo",
        "verified": "Área con identidad verificada",
        "signed out": "Usted cerró su sesión",
    },
}


def check_page(page: Any, label: str, text: dict[str, str]) -> None:
    """What every page owes: banner, header button, identifier, Public Sans, axe at two sizes."""
    assert page.locator("section.usa-banner").get_by_text(text["banner"]).is_visible(), label
    assert page.locator(".usa-identifier").get_by_role("link", name=text["privacy"]).count() == 1
    header = page.get_by_role("banner")
    sign_out = header.get_by_role("button", name=text["sign out"])
    sign_in = header.get_by_role("link", name=text["sign in"])
    signed_in = sign_out.count() == 1
    assert sign_in.count() == (0 if signed_in else 1), label
    page.evaluate("() => document.fonts.ready")
    assert page.evaluate("() => document.fonts.check('700 16px \"Public Sans Web\"')"), label
    assert page.evaluate(OTHER_FONTS) == [], label
    for size_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        violations = axe_violations(page)
        assert violations == [], f"{label} ({size_name}):\n{format_violations(violations)}"
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        box = (sign_out if signed_in else sign_in).bounding_box()
        assert box is not None, label
        assert box["y"] + box["height"] < size["height"] / 2, (label, box)  # at the top
        screenshot(page, f"pages-{label}-{size_name}")
    page.set_viewport_size(DESKTOP)


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_page_meets_the_standard_at_both_sizes(
    new_context: Callable[..., Any], site: LiveApp, language: str
) -> None:
    """Every journey's pages in both languages (the browser's language chooses)."""
    context = new_context(locale=language)
    page = context.new_page()
    text = TEXT[language]
    visited: list[str] = []

    def visit(path: str | None, expected_heading: str, label: str) -> None:
        if path is not None:
            page.goto(site(path))
        assert page.locator("html").get_attribute("lang") == language, label
        assert heading(page) == text[expected_heading], label
        check_page(page, f"{label}-{language}", text)
        visited.append(label)

    visit("/", "home", "home")
    visit("/no/such/page", "not found", "not-found")
    visit("/about", "about", "identifier-placeholder")
    visit("/auth/logout", "sign out", "sign-out-anonymous")
    visit("/auth/signed-out", "signed out unconfirmed", "signed-out-unconfirmed")
    visit("/auth/callback?state=nothing-started-here&code=x", "expired", "expired")
    page.goto(site("/account"))
    with page.expect_navigation():
        page.get_by_role("button", name="Cancel").click()
    visit(None, "cancelled", "cancelled")

    page.goto(site("/account"))
    approve_at_provider(page, ALICE)
    visit(None, "account", "account")
    visit("/", "welcome", "home-signed-in")
    visit("/staff-only", "forbidden", "forbidden")
    visit("/auth/logout", "sign out", "sign-out-confirm")
    page.goto(site("/account/verified"))
    with page.expect_navigation():
        page.get_by_role("button", name="Cancel").click()
    visit(None, "step-up cancelled", "step-up-cancelled")
    with page.expect_navigation():
        page.get_by_role("link", name=text["retry step-up"]).click()
    assert "(identity verified)" in page.locator(".lead").inner_text()  # the provider asks again
    approve_at_provider(page, ALICE, level=ACR_VERIFIED)
    visit(None, "verified", "verified")
    with page.expect_navigation():
        page.get_by_role("banner").get_by_role("button", name=text["sign out"]).click()
    with page.expect_navigation():
        page.get_by_role("button", name="Yes, sign out").click()
    visit(None, "signed out", "signed-out")
    assert len(visited) == 14
    assert context.console_log.csp_violations() == []


def test_the_login_gov_button_follows_the_partner_guidelines(page: Any, site: LiveApp) -> None:
    page.goto(site("/no/such/page"))  # any page: the header is the same everywhere
    button = header_sign_in(page)
    # The label and the logo's alt text make the name; the logo is the official file, loaded.
    assert button.evaluate("el => el.textContent.trim()") == "Sign in with"
    logo = button.locator("img")
    assert logo.get_attribute("alt") == "Login.gov"
    assert logo.get_attribute("src").endswith("/static/login-gov/logo-white.svg")
    assert logo.evaluate("img => img.complete && img.naturalWidth > 0")
    signed_out_style = button_style(button)
    assert signed_out_style["background"] == USWDS_PRIMARY  # solid primary, not an outline
    assert signed_out_style["color"] == "rgb(255, 255, 255)"
    assert signed_out_style["weight"] == "700"
    assert signed_out_style["paddingLeft"] >= 20
    assert signed_out_style["paddingRight"] >= 20
    assert signed_out_style["justify"] == "center"
    assert signed_out_style["font"].startswith('"Public Sans Web"')
    # Top right: the header's last item, at its right edge, on the header's first row.
    header = page.locator(".site-header__inner").evaluate(
        """el => {
            const r = el.getBoundingClientRect();
            return {right: r.right - parseFloat(getComputedStyle(el).paddingRight),
                    middle: r.top + r.height / 2};
        }"""
    )
    assert abs(signed_out_style["right"] - header["right"]) <= 1
    assert signed_out_style["top"] < header["middle"]

    with page.expect_navigation():
        button.click()
    assert_at_provider_sign_in(page, site)
    approve_at_provider(page, ALICE)
    sign_out = header_sign_out(page)
    signed_in_style = button_style(sign_out)
    for same in ("background", "color", "weight", "height", "font", "paddingLeft", "right"):
        assert signed_in_style[same] == pytest.approx(signed_out_style[same], abs=0.5), same
    assert sign_out.evaluate("el => el.form.method") == "post"
    assert sign_out.evaluate("el => el.form.elements.csrf_token.value") != ""


def button_style(locator: Any) -> dict[str, Any]:
    return locator.evaluate(
        """el => {
            const s = getComputedStyle(el), r = el.getBoundingClientRect();
            return {background: s.backgroundColor, color: s.color, weight: s.fontWeight,
                    font: s.fontFamily, justify: s.justifyContent, height: r.height,
                    paddingLeft: parseFloat(s.paddingLeft),
                    paddingRight: parseFloat(s.paddingRight), right: r.right, top: r.top};
        }"""
    )


def test_the_banner_opens_with_uswds_javascript_and_is_open_without(
    page: Any, new_context: Callable[..., Any], site: LiveApp
) -> None:
    page.goto(site("/"))
    toggle = page.get_by_role("button", name="Here\u2019s how you know")
    explanation = page.get_by_text("Official websites use .gov")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert not explanation.is_visible()
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert explanation.is_visible()
    screenshot(page, "pages-banner-open")

    without_js = new_context(java_script_enabled=False).new_page()
    without_js.goto(site("/"))
    assert without_js.get_by_text("Official websites use .gov").is_visible()
