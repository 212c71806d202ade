"""Error categories: an outage says "not available", a refused answer says what happened."""

from __future__ import annotations

from loginsite.oidc import (
    AuthorizationDenied,
    InvalidIdToken,
    InvalidUserinfo,
    ProviderError,
    ProviderRefused,
    ProviderTimeout,
    ProviderUnavailable,
)
from loginsite.oidc.errors import ANSWER_REFUSED_TITLE, NOT_AVAILABLE_TITLE


def test_outages_are_not_available() -> None:
    for exc in (ProviderUnavailable("x"), ProviderTimeout("x"), ProviderError("HTTP 500")):
        assert exc.category == "provider_unavailable"
        assert exc.title == NOT_AVAILABLE_TITLE


def test_a_refused_answer_is_a_502_with_its_own_title_and_message() -> None:
    for exc in (ProviderError("too large", answer_refused=True), InvalidUserinfo("sub")):
        assert exc.status == 502
        assert exc.category == "answer_refused"
        assert exc.title == ANSWER_REFUSED_TITLE
        assert "not available" not in exc.title + exc.user_message
    assert "inconsistent account details" in InvalidUserinfo("sub").user_message
    assert "security checks" in ProviderError("x", answer_refused=True).user_message


def test_other_categories() -> None:
    assert InvalidIdToken("x").category == "id_token_refused"
    assert ProviderRefused("x").category == "request_refused"
    assert AuthorizationDenied("access_denied").title == "You cancelled sign-in"
    assert AuthorizationDenied("invalid_request").title == "We could not sign you in"
