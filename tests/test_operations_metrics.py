"""Prometheus metrics: a listener of their own, the series the issue lists, low-cardinality
labels (never a sub, an email or a path), and nothing when they are off."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import webtest
from prometheus_client.parser import text_string_to_metric_families
from pyramid.interfaces import ISecurityPolicy

from loginsite.operations import LISTENER_KEY
from loginsite.operations.metrics import METRICS_KEY, reason_label
from loginsite.settings import SettingsError
from tests.plugins.oidc_provider import TestProvider

EMAIL = "person@example.gov"
PUBLIC_URL = "https://app.example.test"


def signed_in_cookie(app: Any, sub: str | None = None) -> tuple[str, str]:
    """A valid session cookie header for ``sub`` (a fresh UUID by default), and the sub."""
    sub = sub or str(uuid.uuid4())
    policy = app.registry.getUtility(ISecurityPolicy)
    value, _ = policy.codec.mint(sub, email=EMAIL, acr="urn:acr.login.gov:auth-only")
    return f"{policy.cookie_name}={value}", sub


def scrape(app: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample on the app's metrics listener, by (name, sorted labels)."""
    port = app.registry[LISTENER_KEY].port
    response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def metrics_app(make_app: Callable[..., Any]) -> Callable[..., Any]:
    apps = []

    def make(**overrides: str) -> Any:
        app = make_app(**{"loginsite.metrics.listen": "127.0.0.1:0", **overrides})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.registry[LISTENER_KEY].close()


def browser(app: Any, **environ: str) -> webtest.TestApp:
    return webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost:6543", **environ})


def test_requests_by_status_class_and_duration(metrics_app: Callable[..., Any]) -> None:
    app = metrics_app()
    client = browser(app)
    client.get("/")
    client.get("/")
    client.get("/no-such-page", status=404)
    client.get("/account/", status=303)
    samples = scrape(app)
    assert value(samples, "loginsite_http_requests_total", status_class="2xx") == 2
    assert value(samples, "loginsite_http_requests_total", status_class="3xx") == 1
    assert value(samples, "loginsite_http_requests_total", status_class="4xx") == 1
    assert value(samples, "loginsite_http_requests_total", status_class="5xx") == 0
    assert value(samples, "loginsite_http_request_duration_seconds_count") == 4
    assert value(samples, "loginsite_http_request_duration_seconds_bucket", le="+Inf") == 4
    assert value(samples, "process_cpu_seconds_total") > 0


def test_the_public_site_does_not_serve_metrics(metrics_app: Callable[..., Any]) -> None:
    browser(metrics_app()).get("/metrics", status=404)


def test_session_refusals_and_sign_outs_by_reason_without_the_sub(
    metrics_app: Callable[..., Any],
) -> None:
    app = metrics_app()
    policy = app.registry.getUtility(ISecurityPolicy)
    cookie, sub = signed_in_cookie(app)
    client = browser(app)
    client.get("/", headers={"Cookie": f"{policy.cookie_name}=not-a-token"})
    client.get("/", headers={"Cookie": cookie[:-3] + "AAA"})  # a broken signature
    client.set_cookie(policy.cookie_name, cookie.partition("=")[2])
    account = client.get("/account/", status=200)
    form = next(f for f in account.forms.values() if "everywhere" in f.fields)
    form["everywhere"] = "1"
    form.submit(status=303)
    client.set_cookie(policy.cookie_name, cookie.partition("=")[2])
    client.get("/account/", status=303)  # now revoked
    samples = scrape(app)
    refusals = {
        dict(labels)["reason"]: v
        for (name, labels), v in samples.items()
        if name == "loginsite_session_refusals_total"
    }
    assert refusals == {"malformed_token_or_header": 1, "bad_signature": 1, "session_revoked": 1}
    assert (
        value(samples, "loginsite_sign_outs_total", scope="everywhere", outcome="everywhere") == 1
    )
    assert not [
        name
        for (name, labels) in samples
        if name == "loginsite_sign_outs_total" and dict(labels)["scope"] == "session"
    ]
    text = repr(samples)
    assert sub not in text
    assert EMAIL not in text


def test_the_revocation_store_is_read_at_scrape_time(metrics_app: Callable[..., Any]) -> None:
    app = metrics_app()
    assert value(scrape(app), "loginsite_revocation_entries") == 0
    cookie, _ = signed_in_cookie(app)
    client = browser(app)
    client.set_cookie(*cookie.split("=", 1))
    account = client.get("/account/", status=200)
    next(f for f in account.forms.values() if "everywhere" not in f.fields).submit(status=303)
    samples = scrape(app)
    assert value(samples, "loginsite_revocation_entries") == 1
    assert value(samples, "loginsite_revocation_synced") == 1
    assert value(samples, "loginsite_revocation_ready") == 1
    assert value(samples, "loginsite_revocation_staleness_seconds") == 0
    assert value(samples, "loginsite_revocation_pending_writes") == 0


@pytest.fixture
def provider_app(
    metrics_app: Callable[..., Any], test_provider: TestProvider, tmp_path: Path
) -> Any:
    key_file = tmp_path / "client.pem"
    key_file.write_bytes(test_provider.client_private_key_pem)
    return metrics_app(
        **{
            "loginsite.public_url": PUBLIC_URL,
            "loginsite.session.secure": "true",
            "loginsite.idp.issuer": test_provider.issuer,
            "loginsite.idp.client_id": test_provider.client_id,
            "loginsite.idp.private_key": str(key_file),
            "loginsite.idp.timeout": "1",
        }
    )


def test_sign_ins_and_provider_requests_by_endpoint(
    provider_app: Any, test_provider: TestProvider
) -> None:
    def fresh() -> webtest.TestApp:  # a browser that is not signed in yet
        return browser(
            provider_app, **{"wsgi.url_scheme": "https", "HTTP_HOST": "app.example.test"}
        )

    client = fresh()
    login = client.get("/auth/login?next=/account/", status=303)
    client.get("/auth/callback", params=test_provider.authorize(login.location), status=303)
    client = fresh()
    client.get("/auth/callback", params={"state": "unknown", "code": "x"}, status=400)
    login = client.get("/auth/login", status=303)
    denied = {**test_provider.authorize(login.location), "error": "access_denied"}
    client.get("/auth/callback", params=denied, status=200)  # a cancel: a notice, not an error
    test_provider.respond("token", status=500, body=b"<html>oops</html>")
    login = client.get("/auth/login", status=303)
    client.get("/auth/callback", params=test_provider.authorize(login.location), status=502)
    samples = scrape(provider_app)
    sign_ins = {
        (dict(labels)["outcome"], dict(labels)["reason"]): v
        for (name, labels), v in samples.items()
        if name == "loginsite_sign_ins_total"
    }
    assert sign_ins == {
        ("success", "ok"): 1,
        ("refused", "no_transaction_cookie"): 1,
        ("failure", "authorization_denied"): 1,
        ("failure", "provider_error"): 1,
    }
    for endpoint in ("discovery", "jwks", "token", "userinfo"):
        count = value(
            samples, "loginsite_provider_request_duration_seconds_count", endpoint=endpoint
        )
        assert count >= 1, endpoint
    assert (
        value(samples, "loginsite_provider_request_duration_seconds_count", endpoint="token") == 2
    )
    assert value(samples, "loginsite_provider_errors_total", endpoint="token", kind="http_5xx") == 1
    text = repr(samples)
    assert test_provider.client_id not in text


def test_provider_trouble_is_counted_by_kind(
    provider_app: Any, test_provider: TestProvider
) -> None:
    client = browser(provider_app, **{"wsgi.url_scheme": "https", "HTTP_HOST": "app.example.test"})
    test_provider.stall("discovery")
    client.get("/auth/login", status=504)
    samples = scrape(provider_app)
    assert (
        value(samples, "loginsite_provider_errors_total", endpoint="discovery", kind="timeout") == 1
    )
    assert (
        value(samples, "loginsite_sign_ins_total", outcome="failure", reason="provider_timeout")
        == 1
    )


def test_metrics_are_off_unless_a_listener_is_set(make_app: Callable[..., Any]) -> None:
    app = make_app()
    assert METRICS_KEY not in app.registry
    assert LISTENER_KEY not in app.registry
    browser(app).get("/")


@pytest.mark.parametrize("listen", ["9464", "127.0.0.1", ":9464", "host:port", "127.0.0.1:70000"])
def test_a_bad_listen_address_is_a_clear_error(make_app: Callable[..., Any], listen: str) -> None:
    with pytest.raises(SettingsError, match="loginsite.metrics.listen") as error:
        make_app(**{"loginsite.metrics.listen": listen})
    assert error.value.env_var == "LOGINSITE_METRICS_LISTEN"


def test_a_busy_listen_address_is_a_clear_error(make_app: Callable[..., Any]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SettingsError, match=f"cannot listen on 127.0.0.1:{port}"):
            make_app(**{"loginsite.metrics.listen": f"127.0.0.1:{port}"})


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("revocation list unavailable (ConnectionError)", "revocation_list_unavailable"),
        ("ProviderTimeout", "provider_timeout"),
        ("no state in callback", "no_state_in_callback"),
        ("missing claim exp", "missing_claim_exp"),
        ("", "unknown"),
        ("x" * 100, "x" * 48),
    ],
)
def test_reasons_become_short_label_values(reason: str, label: str) -> None:
    assert reason_label(reason) == label


def test_request_counts_from_many_threads_add_up() -> None:
    """Each thread counts into its own tally; a scrape sums them, losing nothing."""
    import threading

    from loginsite.operations.metrics import RequestStats

    stats = RequestStats(bounds=(0.01, 0.1))

    def serve() -> None:
        for i in range(1000):
            stats.observe(200 if i % 2 else 503, 0.05)

    threads = [threading.Thread(target=serve) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    families = {family.name: family for family in stats.collect()}
    by_class = {
        s.labels["status_class"]: s.value for s in families["loginsite_http_requests"].samples
    }
    assert by_class == {"1xx": 0, "2xx": 2000, "3xx": 0, "4xx": 0, "5xx": 2000}
    buckets = {
        s.labels["le"]: s.value
        for s in families["loginsite_http_request_duration_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert buckets == {"0.01": 0, "0.1": 4000, "+Inf": 4000}
