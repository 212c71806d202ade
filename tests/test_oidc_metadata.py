"""Discovery: fetched over real HTTP, vetted, cached, and never poisoned by one failure."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from loginsite.oidc import (
    ProviderError,
    ProviderMetadata,
    ProviderMetadataCache,
    ProviderTimeout,
    ProviderUnavailable,
    discovery_url,
)
from tests.plugins.clock import FakeClock
from tests.plugins.oidc_provider import REMOVE, TestProvider


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


def make_cache(
    provider: TestProvider, clock: FakeClock, *, allow_http: bool = True, timeout: float = 2.0
) -> ProviderMetadataCache:
    return ProviderMetadataCache(
        provider.issuer,
        http=requests.Session(),
        timeout=timeout,
        ttl=3600,
        allow_http=allow_http,
        clock=clock,
        retry_interval=30,
    )


@pytest.mark.parametrize(
    ("issuer", "url"),
    [
        ("https://secure.login.gov/", "https://secure.login.gov/.well-known/openid-configuration"),
        ("https://secure.login.gov", "https://secure.login.gov/.well-known/openid-configuration"),
        (
            "https://idp.example/tenant/",
            "https://idp.example/tenant/.well-known/openid-configuration",
        ),
    ],
)
def test_discovery_url_joins_without_doubling_the_slash(issuer: str, url: str) -> None:
    assert discovery_url(issuer) == url


def test_metadata_is_read_and_vetted(test_provider: TestProvider, clock: FakeClock) -> None:
    metadata = make_cache(test_provider, clock).get()

    assert metadata == ProviderMetadata(
        issuer=test_provider.issuer,
        authorization_endpoint=test_provider.url("authorize"),
        token_endpoint=test_provider.url("token"),
        userinfo_endpoint=test_provider.url("userinfo"),
        jwks_uri=test_provider.url("jwks"),
        end_session_endpoint=test_provider.url("logout"),
        id_token_signing_alg_values_supported=("RS256",),
        authorization_response_iss_parameter_supported=False,
    )
    [call] = test_provider.calls
    assert call.path == "/.well-known/openid-configuration"


def test_metadata_is_cached_for_the_ttl(test_provider: TestProvider, clock: FakeClock) -> None:
    cache = make_cache(test_provider, clock)
    cache.get()
    clock.advance(3599)
    cache.get()
    assert len(test_provider.calls_to("discovery")) == 1

    clock.advance(2)
    cache.get()
    assert len(test_provider.calls_to("discovery")) == 2


def test_a_failed_refresh_keeps_serving_the_last_good_document(
    test_provider: TestProvider, clock: FakeClock
) -> None:
    cache = make_cache(test_provider, clock)
    good = cache.get()
    test_provider.respond("discovery", status=500, body="oops", content_type="text/plain")
    clock.advance(3601)

    assert cache.get() == good
    assert len(test_provider.calls_to("discovery")) == 2
    # No new attempt within the retry interval...
    clock.advance(10)
    assert cache.get() == good
    assert len(test_provider.calls_to("discovery")) == 2
    # ...then one, and once the provider is back the fresh document replaces the old one.
    test_provider.restore("discovery")
    test_provider.discovery_overrides["authorization_response_iss_parameter_supported"] = True
    clock.advance(30)
    assert cache.get().authorization_response_iss_parameter_supported is True
    assert len(test_provider.calls_to("discovery")) == 3


def test_the_last_good_document_is_not_served_forever(
    test_provider: TestProvider, clock: FakeClock
) -> None:
    cache = make_cache(test_provider, clock)
    cache.get()
    test_provider.respond("discovery", status=500, body="oops", content_type="text/plain")
    clock.advance(2 * 3600 + 1)

    with pytest.raises(ProviderError):
        cache.get()


def test_failures_are_not_cached(test_provider: TestProvider, clock: FakeClock) -> None:
    cache = make_cache(test_provider, clock)
    test_provider.respond("discovery", status=503, body="down", content_type="text/plain")
    with pytest.raises(ProviderError):
        cache.get()

    test_provider.restore("discovery")
    clock.advance(5)  # a failure is remembered for a few seconds only (issue 16.5)

    assert cache.get().issuer == test_provider.issuer
    assert len(test_provider.calls_to("discovery")) == 2


@pytest.mark.parametrize(
    ("status", "body", "content_type", "reason"),
    [
        (500, {"issuer": "x"}, "application/json", "HTTP 500"),
        (404, "<html>Not found</html>", "text/html", "HTTP 404"),
        (301, "", "text/html", "HTTP 301"),
        (200, "<html>Maintenance</html>", "text/html", "not JSON"),
        (200, "[]", "application/json", "not a JSON object"),
    ],
)
def test_unusable_answers_are_provider_errors(
    test_provider: TestProvider,
    clock: FakeClock,
    status: int,
    body: Any,
    content_type: str,
    reason: str,
) -> None:
    test_provider.respond("discovery", status=status, body=body, content_type=content_type)

    with pytest.raises(ProviderError) as caught:
        make_cache(test_provider, clock).get()

    assert caught.value.status == 502
    assert reason in caught.value.reason


def test_an_oversized_answer_is_a_provider_error(
    test_provider: TestProvider, clock: FakeClock
) -> None:
    test_provider.respond("discovery", body=b"{" + b" " * (2 * 1024 * 1024) + b"}")

    with pytest.raises(ProviderError) as caught:
        make_cache(test_provider, clock).get()

    assert "larger" in caught.value.reason


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"issuer": "https://evil.example/"}, "is not the configured issuer"),
        ({"issuer": "ISSUER_WITHOUT_SLASH"}, "is not the configured issuer"),
        ({"issuer": REMOVE}, "is not the configured issuer"),
        ({"token_endpoint": REMOVE}, "token_endpoint"),
        ({"jwks_uri": 12}, "jwks_uri"),
        ({"userinfo_endpoint": "/relative/userinfo"}, "userinfo_endpoint"),
        ({"authorization_endpoint": "javascript:alert(1)"}, "authorization_endpoint"),
        ({"token_endpoint": "https://user:pw@idp.example/token"}, "credentials"),
        ({"end_session_endpoint": "ftp://idp.example/logout"}, "end_session_endpoint"),
        ({"id_token_signing_alg_values_supported": ["HS256", "none"]}, "RS256"),
        ({"id_token_signing_alg_values_supported": "RS256"}, "not a list"),
        ({"id_token_signing_alg_values_supported": REMOVE}, "not a list"),
    ],
)
def test_unsafe_or_incomplete_documents_are_refused(
    test_provider: TestProvider, clock: FakeClock, overrides: dict[str, Any], reason: str
) -> None:
    if overrides.get("issuer") == "ISSUER_WITHOUT_SLASH":
        overrides = {"issuer": test_provider.issuer.rstrip("/")}
    test_provider.discovery_overrides.update(overrides)

    with pytest.raises(ProviderUnavailable) as caught:
        make_cache(test_provider, clock).get()

    assert caught.value.status == 503
    assert reason in caught.value.reason


def test_end_session_endpoint_is_optional(test_provider: TestProvider, clock: FakeClock) -> None:
    test_provider.discovery_overrides["end_session_endpoint"] = REMOVE

    assert make_cache(test_provider, clock).get().end_session_endpoint is None


def test_http_endpoints_are_refused_without_allow_http(
    test_provider: TestProvider, clock: FakeClock
) -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        make_cache(test_provider, clock, allow_http=False).get()

    assert "https" in caught.value.reason
    assert test_provider.calls == []  # an http issuer is refused before any request


def test_http_endpoints_in_an_https_document_are_refused() -> None:
    document = {
        "issuer": "https://idp.example/",
        "authorization_endpoint": "https://idp.example/authorize",
        "token_endpoint": "http://idp.example/token",
        "userinfo_endpoint": "https://idp.example/userinfo",
        "jwks_uri": "https://idp.example/certs",
        "id_token_signing_alg_values_supported": ["RS256"],
    }

    with pytest.raises(ProviderUnavailable) as caught:
        ProviderMetadata.from_document(document, issuer="https://idp.example/", allow_http=False)
    assert "token_endpoint" in caught.value.reason

    allowed = ProviderMetadata.from_document(
        document, issuer="https://idp.example/", allow_http=True
    )
    assert allowed.token_endpoint == "http://idp.example/token"


def test_provider_down_is_unavailable(closed_port_url: str, clock: FakeClock) -> None:
    cache = ProviderMetadataCache(
        closed_port_url + "/", http=requests.Session(), timeout=2, ttl=60, allow_http=True
    )

    with pytest.raises(ProviderUnavailable) as caught:
        cache.get()

    assert caught.value.status == 503


def test_slow_discovery_times_out(test_provider: TestProvider, clock: FakeClock) -> None:
    test_provider.stall("discovery")

    with pytest.raises(ProviderTimeout) as caught:
        make_cache(test_provider, clock, timeout=0.5).get()

    assert caught.value.status == 504


def test_a_trickled_discovery_document_is_cut_off_at_the_deadline(
    test_provider: TestProvider, clock: FakeClock
) -> None:
    """Each byte comes well within the read timeout; the whole would take 20 s."""
    test_provider.trickle("discovery", b'{"issuer": "' + b"x" * 388 + b'"}', interval=0.05)
    started = time.monotonic()

    with pytest.raises(ProviderTimeout, match="took longer than 0.5 s") as caught:
        make_cache(test_provider, clock, timeout=0.5).get()

    assert caught.value.status == 504
    assert time.monotonic() - started < 5  # cut off, not read to the end
