"""Error categories and codes: an outage is told apart from a refused answer, and nothing in the
protocol package is words for a person (those are loginsite.web.messages')."""

from __future__ import annotations

import ast
from pathlib import Path

import loginsite.oidc
from loginsite.oidc import (
    AuthorizationDenied,
    InvalidCallback,
    InvalidIdToken,
    InvalidUserinfo,
    ProviderBusy,
    ProviderError,
    ProviderRefused,
    ProviderTimeout,
    ProviderUnavailable,
)

OIDC_PACKAGE = Path(loginsite.oidc.__file__).parent


def test_outages_are_provider_unavailable() -> None:
    for exc in (ProviderUnavailable("x"), ProviderTimeout("x"), ProviderError("HTTP 500")):
        assert exc.category == "provider_unavailable"
    assert ProviderUnavailable("x").code == "provider_unavailable"
    assert ProviderBusy("x").code == "provider_busy"
    assert ProviderTimeout("x").code == "provider_timeout"
    assert ProviderError("HTTP 500").code == "provider_error"


def test_a_refused_answer_is_a_502_with_its_own_category_and_code() -> None:
    for exc in (ProviderError("too large", answer_refused=True), InvalidUserinfo("sub")):
        assert exc.status == 502
        assert exc.category == "answer_refused"
    assert ProviderError("too large", answer_refused=True).code == "answer_refused"
    assert InvalidUserinfo("sub").code == "inconsistent_userinfo"


def test_other_categories_and_codes() -> None:
    assert (InvalidIdToken("x").category, InvalidIdToken("x").code) == (
        "id_token_refused",
        "invalid_id_token",
    )
    assert (ProviderRefused("x").category, ProviderRefused("x").code) == (
        "request_refused",
        "provider_refused",
    )
    assert InvalidCallback("x").code == "invalid_callback"
    assert AuthorizationDenied("access_denied").code == "sign_in_cancelled"
    assert AuthorizationDenied("invalid_request").code == "sign_in_denied"
    assert AuthorizationDenied("invalid_request").category == "sign_in_denied"


def test_the_protocol_package_imports_no_framework_and_no_translation() -> None:
    for path in OIDC_PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top not in ("pyramid", "gettext", "babel"), f"{path.name} imports {name}"
                assert not name.startswith(("loginsite.i18n", "loginsite.web")), path.name
