"""The pages in Spanish through WebTest: the whole page speaks the negotiated language, the
USWDS banner and identifier in their official Spanish, values escaped inside translations."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import webtest

SPANISH = {"Accept-Language": "es-US,es;q=0.9"}


def text_of(response: webtest.TestResponse, selector: str) -> str:
    element = response.html.select_one(selector)
    assert element is not None, selector
    return element.get_text(" ", strip=True)


def test_the_home_page_in_spanish(testapp: webtest.TestApp) -> None:
    response = testapp.get("/", headers=SPANISH)
    assert response.html.find("html")["lang"] == "es"
    assert text_of(response, "h1") == "Inicie sesión en Example Service"
    assert text_of(response, "header .login-button") == "Iniciar sesión con"
    assert response.html.select_one("header .login-button img")["alt"] == "Login.gov"
    assert text_of(response, ".usa-skipnav") == "Saltar al contenido principal"
    assert response.html.find("title").get_text() == "Iniciar sesión | Example Service"


def test_the_banner_in_its_official_spanish(testapp: webtest.TestApp) -> None:
    banner = testapp.get("/", headers=SPANISH).html.find("section", class_="usa-banner")
    assert banner["aria-label"] == "Un sitio oficial del Gobierno de Estados Unidos"
    text = banner.get_text(" ", strip=True)
    assert "Un sitio oficial del Gobierno de Estados Unidos" in text
    assert banner.find("button").get_text(strip=True) == "Así es como usted puede verificarlo"
    assert "Los sitios web oficiales usan .gov" in text
    assert "Los sitios web seguros .gov usan HTTPS" in text
    assert "Un candado" in " ".join(text.split())
    lock = banner.find("svg")  # the lock icon stays inside the sentence, with its own words
    assert lock.find("title").get_text() == "Candado"


def test_the_identifier_in_its_official_spanish(testapp: webtest.TestApp) -> None:
    html = testapp.get("/", headers=SPANISH).html
    identifier = html.find("div", class_="usa-identifier")
    text = identifier.get_text(" ", strip=True)
    assert "Un sitio web oficial de Example Agency" in text
    links = [a.get_text(strip=True) for a in identifier.select(".usa-identifier__required-link")]
    assert links == [
        "Acerca de Example Agency",
        "Declaración de accesibilidad",
        "Solicitud a través de FOIA",
        "Datos de la ley No FEAR",
        "Política de privacidad",
    ]
    usagov = identifier.select_one(".usa-identifier__section--usagov a")
    assert (usagov.get_text(strip=True), usagov["href"]) == (
        "Visite USAGov en Español",
        "https://www.usa.gov/es/",
    )


def test_the_language_selector_offers_the_other_language(testapp: webtest.TestApp) -> None:
    link = testapp.get("/").html.select_one(".usa-language__link")
    assert (link.get_text(strip=True), link["lang"], link["href"]) == (
        "Español",
        "es",
        "/language?lang=es&next=%2F",
    )
    link = testapp.get("/", headers=SPANISH).html.select_one(".usa-language__link")
    assert (link.get_text(strip=True), link["lang"]) == ("English", "en")


def test_an_english_only_site_shows_no_selector(make_app: Callable[..., object]) -> None:
    app = webtest.TestApp(make_app(**{"loginsite.available_languages": "en"}))
    response = app.get("/", headers=SPANISH)
    assert response.html.find("html")["lang"] == "en"
    assert response.html.select_one(".usa-language__link") is None


def test_signed_in_pages_in_spanish(testapp: webtest.TestApp, sign_in: Callable[..., str]) -> None:
    sign_in()
    home = testapp.get("/", headers=SPANISH)
    assert text_of(home, "h1") == "Le damos la bienvenida de nuevo"
    assert text_of(home, ".signed-in-as") == "Sesión iniciada como alice@example.gov"
    assert text_of(home, "header .login-button") == "Cerrar sesión"
    account = testapp.get("/account", headers=SPANISH)
    assert text_of(account, "h1") == "Su cuenta"
    assert "Autenticado (sin verificación de identidad)" in account.text
    assert "Cerrar sesión en todas partes" in account.text


@pytest.mark.parametrize("email", ["<script>alert(1)</script>@example.gov", "a&b\"'@example.gov"])
def test_values_inside_a_translation_are_escaped(
    testapp: webtest.TestApp, sign_in: Callable[..., str], email: str
) -> None:
    sign_in(email=email)
    for headers in (SPANISH, {}):
        response = testapp.get("/", headers=headers)
        assert email not in response.text
        assert "<script>alert" not in response.text
        assert text_of(response, ".signed-in-as").endswith(email)


def test_error_pages_in_spanish(testapp: webtest.TestApp) -> None:
    response = testapp.get("/nowhere", headers=SPANISH, status=404)
    assert response.html.find("html")["lang"] == "es"
    assert text_of(response, "h1") == "No se encontró la página"
    assert text_of(response, "main .usa-button") == "Ir a la página principal"
    assert "Error 404 · referencia" in text_of(response, ".error-code")


def test_a_placeholder_page_in_spanish(testapp: webtest.TestApp) -> None:
    response = testapp.get("/privacy", headers=SPANISH)
    assert text_of(response, "h1") == "Política de privacidad"
    assert "Esta página todavía no se ha configurado" in response.text
