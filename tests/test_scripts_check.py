"""loginsite-check against the development provider, a scripted fake provider and nothing."""

from __future__ import annotations

import datetime
import json
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from loginsite import credentials
from loginsite.scripts import check
from loginsite.settings import app_settings
from tests.plugins.live_server import LiveServer
from tests.plugins.session_keys import SECRET_1, SECRET_3


@pytest.fixture(autouse=True)
def _no_loginsite_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LOGINSITE_"):
            monkeypatch.delenv(name)


def write_ini(path: Path, settings: dict[str, str]) -> Path:
    lines = ["[app:main]", "use = egg:loginsite"]
    lines += [f"{name} = {value.replace('%', '%%')}" for name, value in settings.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(
    tmp_path: Path, settings: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    code = check.main([str(write_ini(tmp_path / "check.ini", settings))])
    return code, capsys.readouterr().out


def line(output: str, name: str) -> str:
    """The report line of one check: ``STATUS`` padded to 6, then ``name: detail``."""
    return next(x for x in output.splitlines() if x[6:].split(":")[0] == name)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def certificate_file(client_private_key: rsa.RSAPrivateKey, tmp_path: Path) -> Path:
    path = tmp_path / "client-certificate.pem"
    cert = credentials.self_signed_certificate(client_private_key, "loginsite test", days=365)
    path.write_bytes(credentials.certificate_pem(cert))
    return path


class FakeProvider:
    """A WSGI provider whose discovery and JWKS answers each test scripts."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.reset()

    @property
    def issuer(self) -> str:
        return self.url + "/"

    def reset(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.discovery: dict[str, Any] = {
            "issuer": self.issuer,
            "authorization_endpoint": self.url + "/openid_connect/authorize",
            "token_endpoint": self.url + "/api/openid_connect/token",
            "userinfo_endpoint": self.url + "/api/openid_connect/userinfo",
            "jwks_uri": self.url + "/api/openid_connect/certs",
            "end_session_endpoint": self.url + "/openid_connect/logout",
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "acr_values_supported": ["urn:acr.login.gov:auth-only", "urn:acr.login.gov:verified"],
        }
        self.jwks: Any = {"keys": [credentials.public_jwk(key.public_key(), "k1")]}
        self.status = {"discovery": "200 OK", "jwks": "200 OK"}
        self.raw: dict[str, bytes] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        path = environ["PATH_INFO"]
        name = "discovery" if path == "/.well-known/openid-configuration" else "jwks"
        body = self.raw.get(name) or json.dumps(getattr(self, name)).encode()
        start_response(self.status[name], [("Content-Type", "application/json")])
        return [body]


@pytest.fixture(scope="module")
def shared_fake() -> Iterator[FakeProvider]:
    server = LiveServer()
    fake = FakeProvider(server.url)
    server.start(fake)
    yield fake
    server.stop()


@pytest.fixture
def fake(shared_fake: FakeProvider) -> Iterator[FakeProvider]:
    shared_fake.reset()
    yield shared_fake
    shared_fake.reset()


@pytest.fixture
def fake_settings(
    settings: dict[str, str], fake: FakeProvider, certificate_file: Path
) -> dict[str, str]:
    return {
        **settings,
        "loginsite.idp.issuer": fake.issuer,
        "loginsite.idp.certificate": str(certificate_file),
    }


def test_passes_against_the_development_provider(
    live_server: Callable[[], LiveServer],
    make_app: Callable[..., Any],
    settings: dict[str, str],
    certificate_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = live_server()
    devidp = {
        "loginsite.public_url": server.url,
        "loginsite.idp.issuer": server.url + "/_devidp/",
        "pyramid.includes": "loginsite.devidp",
        "loginsite.devidp.data_dir": str(tmp_path / "devidp"),
    }
    server.start(make_app(**devidp))
    config = {**settings, **devidp, "loginsite.idp.certificate": str(certificate_file)}
    code, out = run(tmp_path, config, capsys)
    assert code == 0, out
    assert "FAIL" not in out
    assert line(out, "discovery").startswith("OK")
    assert line(out, "jwks").startswith("OK")
    assert line(out, "certificate").startswith("OK")
    assert line(out, "session keys").startswith("OK  ")
    assert "2 key(s): k2 signs; verify-only: k1; retire a key no sooner than 905 s" in out
    assert out.strip().endswith("ready")


@pytest.mark.parametrize(
    ("ring", "changes", "shown"),
    [
        # Stage 1 of a rotation: the old key signs, the new one is deployed as verify-only.
        ("old:{s1} new:{s3}:verify", {}, "old signs; verify-only: new; "),
        # Stage 2, with the redis store: its entries live idle_timeout + max_staleness + skew.
        (
            "old:{s1}:verify new:{s3}",
            {"loginsite.revocation.store": "redis", "loginsite.revocation.redis_url": "redis://x"},
            "new signs; verify-only: old; retire a key no sooner than 935 s",
        ),
        # A short idle timeout: sign-ins in flight (10 minutes) set the wait.
        ("new:{s3}", {"loginsite.session.idle_timeout": "60"}, "no sooner than 605 s"),
    ],
)
def test_the_session_key_ring_is_shown(
    fake_settings: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    ring: str,
    changes: dict[str, str],
    shown: str,
) -> None:
    keys = ring.format(s1=SECRET_1, s3=SECRET_3)
    _, out = run(tmp_path, {**fake_settings, "loginsite.session.keys": keys, **changes}, capsys)
    assert line(out, "session keys").startswith("OK  ")
    assert shown in line(out, "session keys")
    assert SECRET_1 not in out
    assert SECRET_3 not in out


def test_a_ring_without_a_signing_key_fails_the_check(
    fake_settings: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = f"old:{SECRET_1}:verify new:{SECRET_3}:verify"
    code, out = run(tmp_path, {**fake_settings, "loginsite.session.keys": keys}, capsys)
    assert code == 1
    assert "loginsite.session.keys (or env LOGINSITE_SESSION_KEYS): has no signing key" in out
    assert line(out, "session keys").startswith("SKIP")


def test_settings_errors_are_reported(
    fake_settings: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(tmp_path, {**fake_settings, "loginsite.session.keys": "k1:password"}, capsys)
    assert code == 1
    assert line(out, "settings").startswith("FAIL")
    assert "loginsite.session.keys" in out
    assert "NOT ready" in out


def test_environment_variables_count_like_in_the_app(
    fake_settings: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOGINSITE_IDP_CLIENT_ID", "urn:from:environment")
    code, out = run(tmp_path, fake_settings, capsys)
    assert code == 0, out
    assert "client_id urn:from:environment" in out


def test_passes_against_a_good_provider(
    fake_settings: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(tmp_path, fake_settings, capsys)
    assert code == 0, out
    assert "kid k1" in line(out, "jwks")


def test_provider_down(
    fake_settings: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issuer = f"http://127.0.0.1:{closed_port()}/_devidp/"
    code, out = run(tmp_path, {**fake_settings, "loginsite.idp.issuer": issuer}, capsys)
    assert code == 1
    assert line(out, "discovery").startswith("FAIL")
    assert "connection failed" in line(out, "discovery")
    assert line(out, "jwks").startswith("SKIP")


def test_issuer_mismatch(
    fake: FakeProvider,
    fake_settings: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake.discovery["issuer"] = fake.url  # no trailing slash
    code, out = run(tmp_path, fake_settings, capsys)
    assert code == 1
    assert "is not the configured issuer" in line(out, "discovery")
    assert "trailing slash included" in line(out, "discovery")
    assert line(out, "discovery").startswith("FAIL")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"token_endpoint": None}, "token_endpoint is missing"),
        ({"userinfo_endpoint": "ftp://127.0.0.1/userinfo"}, "got scheme 'ftp'"),
        ({"token_endpoint_auth_methods_supported": None}, "private_key_jwt"),
        ({"token_endpoint_auth_methods_supported": ["client_secret_basic"]}, "private_key_jwt"),
        ({"id_token_signing_alg_values_supported": ["HS256"]}, "RS256"),
        ({"acr_values_supported": ["urn:acr.login.gov:verified"]}, "auth-only"),
    ],
)
def test_discovery_problems(
    fake: FakeProvider,
    fake_settings: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, Any],
    words: str,
) -> None:
    fake.discovery.update(change)
    fake.discovery = {k: v for k, v in fake.discovery.items() if v is not None}
    code, out = run(tmp_path, fake_settings, capsys)
    assert code == 1
    assert line(out, "discovery").startswith("FAIL")
    assert words in line(out, "discovery")


@pytest.mark.parametrize(
    ("script", "where", "words"),
    [
        ({"status": {"discovery": "500 Internal Server Error"}}, "discovery", "HTTP 500"),
        ({"raw": {"discovery": b"<html>maintenance</html>"}}, "discovery", "JSON"),
        ({"raw": {"discovery": b"[]"}}, "discovery", "JSON object"),
        ({"status": {"jwks": "503 Service Unavailable"}}, "jwks", "HTTP 503"),
        ({"jwks": {"keys": []}}, "jwks", "no usable RS256"),
        ({"jwks": {"nokeys": 1}}, "jwks", "no 'keys' list"),
        ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, "jwks", "no usable RS256"),
    ],
)
def test_provider_answers_badly(
    fake: FakeProvider,
    fake_settings: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    script: dict[str, Any],
    where: str,
    words: str,
) -> None:
    for attribute, value in script.items():
        current = getattr(fake, attribute)
        if isinstance(current, dict) and attribute != "jwks":
            current.update(value)
        else:
            setattr(fake, attribute, value)
    code, out = run(tmp_path, fake_settings, capsys)
    assert code == 1
    assert line(out, where).startswith("FAIL")
    assert words in line(out, where)


def test_weak_jwks_key_is_not_usable(
    fake: FakeProvider,
    fake_settings: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    fake.jwks = {"keys": [credentials.public_jwk(weak.public_key(), "weak")]}
    code, out = run(tmp_path, fake_settings, capsys)
    assert code == 1
    assert "no usable RS256" in line(out, "jwks")


def test_certificate_of_another_key(
    fake_settings: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "other-cert.pem"
    path.write_bytes(
        credentials.certificate_pem(credentials.self_signed_certificate(other, "other", 30))
    )
    code, out = run(tmp_path, {**fake_settings, "loginsite.idp.certificate": str(path)}, capsys)
    assert code == 1
    assert line(out, "certificate").startswith("FAIL")
    assert "does not belong to the private key" in out


@pytest.mark.parametrize(("content", "words"), [(None, "cannot read"), (b"junk", "not a PEM")])
def test_unreadable_certificate(
    fake_settings: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
    words: str,
) -> None:
    path = tmp_path / "cert.pem"
    if content is not None:
        path.write_bytes(content)
    code, out = run(tmp_path, {**fake_settings, "loginsite.idp.certificate": str(path)}, capsys)
    assert code == 1
    assert words in line(out, "certificate")


def test_expired_and_expiring_certificates(fake_settings: dict[str, str]) -> None:
    now = datetime.datetime.now(datetime.UTC)
    expired = check.run_checks(fake_settings, now=lambda: now + datetime.timedelta(days=366))
    assert expired.failed
    assert "expired on" in next(x for x in expired.lines if "certificate" in x)
    soon = check.run_checks(fake_settings, now=lambda: now + datetime.timedelta(days=350))
    assert not soon.failed
    assert "renew it soon" in next(x for x in soon.lines if "certificate" in x)


def test_no_certificate_is_skipped(
    settings: dict[str, str], fake: FakeProvider, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(tmp_path, {**settings, "loginsite.idp.issuer": fake.issuer}, capsys)
    assert code == 0, out
    assert line(out, "certificate").startswith("SKIP")


def production(settings: dict[str, str], **overrides: str) -> dict[str, str]:
    return {
        **settings,
        "loginsite.environment": "production",
        "loginsite.public_url": "https://apply.example.gov",
        "loginsite.session.secure": "true",
        "loginsite.idp.allow_http": "false",
        "loginsite.idp.issuer": f"https://127.0.0.1:{closed_port()}/",
        **overrides,
    }


def test_http_in_production_fails(
    settings: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = production(settings, **{"loginsite.public_url": "http://apply.example.gov"})
    code, out = run(tmp_path, config, capsys)
    assert code == 1
    assert "loginsite.public_url" in line(out, "settings")
    config = production(settings, **{"loginsite.idp.issuer": "http://secure.login.gov/"})
    code, out = run(tmp_path, config, capsys)
    assert code == 1
    assert "loginsite.idp.issuer" in line(out, "settings")


def test_insecure_cookies_in_production_fail(
    settings: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(tmp_path, production(settings, **{"loginsite.session.secure": "false"}), capsys)
    assert code == 1
    assert line(out, "production").startswith("FAIL")
    assert "loginsite.session.secure" in line(out, "production")


def test_good_production_settings_pass_the_production_check(
    settings: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = {
        "loginsite.revocation.store": "redis",
        "loginsite.revocation.redis_url": "redis://127.0.0.1:6379/0",
    }
    code, out = run(tmp_path, production(settings, **shared), capsys)
    assert code == 1  # nothing listens at the issuer
    assert line(out, "production").startswith("OK")
    assert line(out, "discovery").startswith("FAIL")


def test_https_endpoints_are_required_without_allow_http(
    settings: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = app_settings(production(settings, **{"loginsite.idp.issuer": "https://idp.test/"}))
    served = {
        "issuer": "https://idp.test/",
        "authorization_endpoint": "https://idp.test/openid_connect/authorize",
        "token_endpoint": "http://idp.test/api/openid_connect/token",
        "userinfo_endpoint": "https://idp.test/api/openid_connect/userinfo",
        "jwks_uri": "https://idp.test/api/openid_connect/certs",
        "end_session_endpoint": "https://idp.test/openid_connect/logout",
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }
    monkeypatch.setattr(check, "get_json", lambda http, url, *, what, timeout: served)
    report = check.Report()
    assert check.check_discovery(config.idp, report, requests.Session()) is None
    assert "token_endpoint must be an absolute https URL, got scheme 'http'" in report.lines[0]


def test_unreadable_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check.main([str(tmp_path / "missing.ini")]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_security_events_url_to_register_is_printed_in_production(
    settings: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = run(tmp_path, production(settings), capsys)
    report = line(out, "security events")
    assert report.startswith("OK")
    assert (
        "register https://apply.example.gov/api/security-events as the push_notification_url"
        in (report)
    )
    assert "partner portal" in report


def test_security_events_url_on_another_port_fails_in_production(
    settings: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = production(settings, **{"loginsite.public_url": "https://apply.example.gov:8443"})
    code, out = run(tmp_path, config, capsys)
    assert code == 1
    report = line(out, "security events")
    assert report.startswith("FAIL")
    assert "https://apply.example.gov:8443/api/security-events" in report
    assert "port 443" in report


def test_security_events_over_http_is_skipped_in_development(
    settings: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = run(tmp_path, settings, capsys)
    report = line(out, "security events")
    assert report.startswith("SKIP")
    assert "http://localhost:6543/api/security-events" in report


def test_a_provider_without_end_session_endpoint_passes_as_in_the_app(
    fake: FakeProvider,
    fake_settings: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The app signs out locally when there is no logout endpoint; the check agrees."""
    del fake.discovery["end_session_endpoint"]
    code, out = run(tmp_path, fake_settings, capsys)
    assert code == 0, out
    assert "no end_session_endpoint" in line(out, "discovery")


def test_keys_not_allowed_to_verify_are_not_usable_as_in_the_app(
    fake: FakeProvider,
    fake_settings: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake.jwks["keys"][0]["key_ops"] = ["encrypt"]
    code, out = run(tmp_path, fake_settings, capsys)
    assert code == 1
    assert "no usable RS256" in line(out, "jwks")


def test_the_discovery_url_is_the_apps(
    fake: FakeProvider,
    fake_settings: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An issuer with a path but no trailing slash: the same URL the app would fetch."""
    from loginsite.oidc import discovery_url

    _, out = run(tmp_path, fake_settings, capsys)
    assert discovery_url(fake.issuer) in line(out, "discovery")


def test_every_problem_is_reported_in_one_run(
    fake_settings: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {
        **fake_settings,
        "loginsite.session.idle_timeout": "soon",
        "loginsite.revocation.store": "disk",
        "loginsite.idp.scopes": "openid",
    }
    code, out = run(tmp_path, config, capsys)
    assert code == 1
    failures = [x for x in out.splitlines() if x.startswith("FAIL  settings:")]
    assert len(failures) == 3, out
    assert any("loginsite.session.idle_timeout" in x for x in failures)
    assert any("loginsite.revocation.store" in x for x in failures)
    assert any(
        "loginsite.idp.scopes is not a loginsite setting; the closest known setting is "
        "loginsite.idp.scope" in x
        for x in failures
    )
    # The provider and certificate checks still ran on the idp settings, which are fine.
    assert line(out, "discovery").startswith("OK")
    assert line(out, "jwks").startswith("OK")
    assert line(out, "certificate").startswith("OK")
    assert line(out, "session keys").startswith("SKIP")


def test_an_unknown_setting_alone_fails_the_check(
    fake_settings: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOGINSITE_IDP_CLIENTID", "urn:x")
    code, out = run(tmp_path, fake_settings, capsys)
    assert code == 1
    assert (
        "LOGINSITE_IDP_CLIENTID is not a loginsite setting; the closest known setting is "
        "LOGINSITE_IDP_CLIENT_ID" in line(out, "settings")
    )
    assert line(out, "discovery").startswith("OK")


def test_an_unloadable_config_file_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.ini"
    path.write_text("[app:other]\nuse = egg:loginsite\n")
    assert check.main([str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL  config: cannot load [app:main] from ")


def test_the_redirect_uris_to_register_follow_the_sign_in_prefix(
    settings: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = run(tmp_path, {**settings, "loginsite.auth.prefix": "/login-gov"}, capsys)
    report = line(out, "redirect URIs")
    assert report.startswith("OK")
    assert "register http://localhost:6543/login-gov/callback (redirect URI)" in report
    assert "http://localhost:6543/login-gov/signed-out (post-logout redirect URI)" in report


def test_a_bad_sign_in_prefix_fails_the_check_by_name(
    settings: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(tmp_path, {**settings, "loginsite.auth.prefix": "login-gov"}, capsys)
    assert code == 1
    assert "loginsite.auth.prefix (or env LOGINSITE_AUTH_PREFIX)" in out
    assert line(out, "redirect URIs").startswith("SKIP")
