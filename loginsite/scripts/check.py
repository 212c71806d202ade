"""``loginsite-check CONFIG.ini``: is this configuration ready to sign people in?

Loads the settings exactly as the app does (INI plus ``LOGINSITE_*`` environment variables), then
checks the provider (discovery and JWKS, with the configured timeout), the client key against its
certificate, the session keys, and what production requires. One line per check, ``OK`` or
``FAIL`` and why; the exit status is 1 if anything failed.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests
from cryptography import x509

from loginsite import credentials
from loginsite.settings import AppSettings, SettingsError, app_settings

ENDPOINT_FIELDS = (
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "end_session_endpoint",
)
CERT_WARNING_DAYS = 30


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    failed: bool = False

    def ok(self, check: str, detail: str) -> None:
        self.lines.append(f"OK    {check}: {detail}")

    def fail(self, check: str, detail: str) -> None:
        self.failed = True
        self.lines.append(f"FAIL  {check}: {detail}")

    def skip(self, check: str, detail: str) -> None:
        self.lines.append(f"SKIP  {check}: {detail}")


class CheckFailed(Exception):
    pass


def _get_json(url: str, timeout: float, what: str) -> dict[str, Any]:
    try:
        response = requests.get(
            url, timeout=timeout, allow_redirects=False, headers={"Accept": "application/json"}
        )
    except requests.Timeout:
        raise CheckFailed(f"{url} did not answer within {timeout:g} s") from None
    except requests.RequestException as exc:
        raise CheckFailed(f"cannot reach {url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise CheckFailed(f"{url} answered HTTP {response.status_code}")
    try:
        document = response.json()
    except ValueError:
        raise CheckFailed(f"{url} did not answer with JSON ({what})") from None
    if not isinstance(document, dict):
        raise CheckFailed(f"{url} did not answer with a JSON object ({what})")
    return document


def check_discovery(settings: AppSettings, report: Report) -> dict[str, Any] | None:
    idp = settings.idp
    url = idp.issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        meta = _get_json(url, idp.timeout, "discovery")
    except CheckFailed as exc:
        report.fail("discovery", str(exc))
        return None
    problems = []
    if meta.get("issuer") != idp.issuer:
        problems.append(
            f"issuer is {meta.get('issuer')!r}, but loginsite.idp.issuer is {idp.issuer!r} "
            "(they must be equal, trailing slash included)"
        )
    for name in ENDPOINT_FIELDS:
        endpoint = meta.get(name)
        if not isinstance(endpoint, str) or not endpoint:
            problems.append(f"{name} is missing")
            continue
        scheme = urlsplit(endpoint).scheme
        if scheme != "https" and not (scheme == "http" and idp.allow_http):
            problems.append(f"{name} {endpoint} is not https")
    if "private_key_jwt" not in (meta.get("token_endpoint_auth_methods_supported") or []):
        problems.append("the provider does not support private_key_jwt client authentication")
    if "RS256" not in (meta.get("id_token_signing_alg_values_supported") or []):
        problems.append("the provider does not sign id_tokens with RS256")
    supported = meta.get("acr_values_supported")
    if isinstance(supported, list) and idp.service_level not in supported:
        problems.append(f"the provider does not offer {idp.service_level}")
    if problems:
        report.fail("discovery", "; ".join(problems))
        return None
    report.ok("discovery", f"{url}: issuer matches, endpoints look right")
    return meta


def check_jwks(settings: AppSettings, meta: dict[str, Any], report: Report) -> None:
    url = meta["jwks_uri"]
    try:
        document = _get_json(url, settings.idp.timeout, "JWKS")
    except CheckFailed as exc:
        report.fail("jwks", str(exc))
        return
    entries = document.get("keys")
    if not isinstance(entries, list):
        report.fail("jwks", f"{url} has no 'keys' list")
        return
    usable = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") != "RS256":
            continue
        try:
            key = jwt.PyJWK(entry, algorithm="RS256")
        except (jwt.PyJWTError, ValueError, TypeError):
            continue
        if getattr(key.key, "key_size", 0) >= 2048:
            usable.append(entry.get("kid") or "(no kid)")
    if not usable:
        report.fail("jwks", f"{url} holds no usable RS256 signing key (RSA, 2048 bits or more)")
        return
    report.ok("jwks", f"{len(usable)} RS256 signing key(s): kid {', '.join(map(str, usable))}")


def check_certificate(settings: AppSettings, report: Report, now: datetime.datetime) -> None:
    path = settings.idp.certificate_path
    if path is None:
        report.skip("certificate", "loginsite.idp.certificate is not set; nothing to compare")
        return
    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as exc:
        report.fail("certificate", f"cannot read {path}: {exc.strerror}")
        return
    except ValueError:
        report.fail("certificate", f"{path} is not a PEM certificate")
        return
    client_key = credentials.load_private_key(settings.idp.private_key_pem)
    if not credentials.certificate_matches_key(certificate, client_key):
        report.fail(
            "certificate",
            f"{path} does not belong to the private key loginsite.idp.private_key: login.gov "
            "will refuse every client assertion",
        )
        return
    not_after = certificate.not_valid_after_utc
    if not_after <= now:
        report.fail("certificate", f"{path} expired on {not_after:%Y-%m-%d}")
        return
    if certificate.not_valid_before_utc > now:
        report.fail("certificate", f"{path} is not valid before {certificate.not_valid_before_utc}")
        return
    days = (not_after - now).days
    note = f" (renew it soon: {days} days left)" if days < CERT_WARNING_DAYS else ""
    report.ok("certificate", f"matches the private key, valid until {not_after:%Y-%m-%d}{note}")


def check_production(settings: AppSettings, report: Report) -> None:
    if settings.environment != "production":
        report.skip("production", "loginsite.environment = development")
        return
    problems = []
    if urlsplit(settings.public_url).scheme != "https":
        problems.append(f"loginsite.public_url {settings.public_url} is not https")
    if urlsplit(settings.idp.issuer).scheme != "https":
        problems.append(f"loginsite.idp.issuer {settings.idp.issuer} is not https")
    if not settings.session.secure:
        problems.append("loginsite.session.secure must be true (Secure, __Host- cookies)")
    if settings.idp.allow_http:
        problems.append("loginsite.idp.allow_http must be off")
    if problems:
        report.fail("production", "; ".join(problems))
    else:
        report.ok("production", "https everywhere, secure cookies")


def check_security_events(settings: AppSettings, report: Report) -> None:
    """The push URL login.gov needs: built from public_url, https, port 443 (its rule)."""
    url = settings.security_events_url
    parts = urlsplit(url)
    if parts.scheme != "https" or parts.port not in (None, 443):
        detail = f"{url} (from loginsite.public_url) must be https on port 443 for login.gov"
        if settings.environment == "production":
            report.fail("security events", detail)
        else:
            report.skip("security events", detail + "; the development provider pushes here")
        return
    report.ok(
        "security events",
        f"register {url} as the push_notification_url in the login.gov partner portal, so "
        "that account events (suspended, deleted, password reset...) end the user's sessions",
    )


def run_checks(
    ini: dict[str, Any],
    *,
    environ: dict[str, str] | None = None,
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
) -> Report:
    report = Report()
    try:
        settings = app_settings(ini, environ)
    except SettingsError as exc:
        report.fail("settings", str(exc))
        return report
    report.ok(
        "settings",
        f"environment {settings.environment}, public_url {settings.public_url}, "
        f"client_id {settings.idp.client_id}",
    )
    kids = ", ".join(key.kid for key in settings.session.keys)
    report.ok(
        "session keys",
        f"{len(settings.session.keys)} key(s), kid {kids}; signing with "
        f"{settings.session.signing_key.kid}",
    )
    check_production(settings, report)
    check_security_events(settings, report)
    check_certificate(settings, report, now())
    meta = check_discovery(settings, report)
    if meta is not None:
        check_jwks(settings, meta, report)
    else:
        report.skip("jwks", "needs discovery")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="loginsite-check",
        description="Check a loginsite configuration and its identity provider.",
    )
    parser.add_argument("config_uri", help="the INI file, e.g. production.ini")
    parser.add_argument("--name", default="main", help="the app section (default: main)")
    args = parser.parse_args(argv)
    from pyramid.paster import get_appsettings

    try:
        ini = dict(get_appsettings(args.config_uri, name=args.name))
    except (OSError, LookupError, ValueError) as exc:
        print(f"FAIL  config: cannot read {args.config_uri}: {exc}")
        return 1
    report = run_checks(ini)
    print("\n".join(report.lines))
    if report.failed:
        print(f"{args.config_uri}: NOT ready, fix the FAIL lines above")
        return 1
    print(f"{args.config_uri}: ready")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
