"""``loginsite-check CONFIG.ini``: is this configuration ready to sign people in?

Loads the settings exactly as the app does (INI plus ``LOGINSITE_*`` environment variables), then
checks the provider, the client key against its certificate, the session keys, and what
production requires. The provider is checked with the app's own code: the discovery URL, the
HTTP helper (timeout, size cap, no redirects), :class:`ProviderMetadata`'s vetting and the JWKS
key selection, so the check and the app cannot disagree about what is acceptable.

Every problem is reported in one run: each settings error and each unknown setting gets its own
line, and the checks whose settings did parse still run. One line per check, ``OK``, ``FAIL`` or
``SKIP`` and why; the exit status is 1 if anything failed.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography import x509

from loginsite import credentials
from loginsite.auth.cookies import TRANSACTION_TTL
from loginsite.auth.views import LOGOUT_STATE_TTL
from loginsite.oidc import ClientConfig, OIDCError, ProviderMetadata, discovery_url
from loginsite.oidc._http import get_json, guarded
from loginsite.oidc.jwks import usable_signing_keys
from loginsite.operations.production_checks import production_risks
from loginsite.revocation.lifetime import EntryLifetime
from loginsite.scripts.ini import ConfigFileError, load_ini
from loginsite.settings import (
    SECURITY_EVENTS_PATH,
    AppSettings,
    ParsedSettings,
    parse_settings,
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


def check_settings(parsed: ParsedSettings, report: Report) -> None:
    """One line per settings error and per unknown setting (a typo the app would ignore)."""
    for error in parsed.errors:
        report.fail("settings", str(error))
    for unknown in parsed.unknown:
        report.fail("settings", str(unknown))
    if parsed.settings is not None and not parsed.unknown:
        settings = parsed.settings
        report.ok(
            "settings",
            f"environment {settings.environment}, public_url {settings.public_url}, "
            f"client_id {settings.idp.client_id}",
        )
    session = parsed.session
    if session is None:
        report.skip("session keys", "needs valid loginsite.session.* settings")
        return
    verify_only = ", ".join(key.kid for key in session.verify_only_keys) or "none"
    retire = (
        f"; retire a key no sooner than {key_retirement_wait(parsed.settings)} s after the last "
        "instance stopped signing with it"
        if parsed.settings is not None
        else ""
    )
    report.ok(
        "session keys",
        f"{len(session.keys)} key(s): {session.signing_key.kid} signs; "
        f"verify-only: {verify_only}{retire}",
    )


def key_retirement_wait(settings: AppSettings) -> int:
    """Seconds after which nothing signed with a key that no instance signs with any more can
    still be accepted, so removing it from the ring signs no one out (README "Key rotation").

    A session under an older key is renewed onto the signing key when next used, so it lives at
    most ``idle_timeout`` after the last instance signing with that key stopped; a sign-in
    transaction and a sign-out receipt live ``TRANSACTION_TTL`` and ``LOGOUT_STATE_TTL``; a Redis
    revocation entry lives ``idle_timeout + max_staleness`` after it reached Redis. Each clock
    may be ``clock_skew`` off.
    """
    revocation = settings.revocation
    entries = EntryLifetime.for_settings(revocation, shared=revocation.store == "redis").seconds
    flows = max(TRANSACTION_TTL, LOGOUT_STATE_TTL) + revocation.clock_skew
    return max(entries, settings.session.idle_timeout + revocation.clock_skew, flows)


def check_discovery(
    idp: ClientConfig, report: Report, http: requests.Session
) -> ProviderMetadata | None:
    """The app's discovery path, plus what login.gov registration needs from the document."""
    url = discovery_url(idp.issuer)
    try:
        document = get_json(http, url, what="discovery", timeout=idp.timeout)
        metadata = ProviderMetadata.from_document(
            document, issuer=idp.issuer, allow_http=idp.allow_http
        )
    except OIDCError as exc:
        detail = f"{url}: {exc.reason.removeprefix('discovery: ')}"
        if "is not the configured issuer" in exc.reason:
            detail += " (loginsite.idp.issuer must equal it exactly, trailing slash included)"
        report.fail("discovery", detail)
        return None
    problems = []
    # (Discovery 1.0: when the list is absent, client_secret_basic is all there is.)
    methods = document.get("token_endpoint_auth_methods_supported")
    if not isinstance(methods, list) or "private_key_jwt" not in methods:
        problems.append("the provider does not support private_key_jwt client authentication")
    levels = document.get("acr_values_supported")
    if isinstance(levels, list) and idp.service_level not in levels:
        problems.append(f"the provider does not offer {idp.service_level}")
    if problems:
        report.fail("discovery", f"{url}: " + "; ".join(problems))
        return None
    note = (
        ""
        if metadata.end_session_endpoint
        else "; no end_session_endpoint, so signing out ends the loginsite session only"
    )
    report.ok("discovery", f"{url}: issuer matches, endpoints look right{note}")
    return metadata


def check_jwks(
    idp: ClientConfig, metadata: ProviderMetadata, report: Report, http: requests.Session
) -> None:
    """The keys the app would verify id_tokens with, chosen by the app's own rules."""
    url = metadata.jwks_uri
    try:
        keys = usable_signing_keys(get_json(http, url, what="jwks", timeout=idp.timeout))
    except OIDCError as exc:
        report.fail("jwks", f"{url}: {exc.reason.removeprefix('jwks: ')}")
        return
    if not keys:
        report.fail(
            "jwks",
            f"{url} holds no usable RS256 signing key (RSA of 2048 bits or more, for "
            "signatures, allowed to verify)",
        )
        return
    kids = ", ".join(key.key_id or "(no kid)" for key in keys)
    report.ok("jwks", f"{len(keys)} RS256 signing key(s): kid {kids}")


def check_certificate(idp: ClientConfig, report: Report, now: datetime.datetime) -> None:
    path = idp.certificate_path
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
    client_key = credentials.load_private_key(idp.private_key_pem)
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


def check_production(parsed: ParsedSettings, report: Report) -> None:
    """What production requires, over whichever parts parsed (the rest failed above)."""
    if parsed.environment != "production":
        report.skip("production", f"loginsite.environment = {parsed.environment or '?'}")
        return
    problems = []
    if parsed.public_url is not None and urlsplit(parsed.public_url).scheme != "https":
        problems.append(f"loginsite.public_url {parsed.public_url} is not https")
    if parsed.idp is not None:
        if urlsplit(parsed.idp.issuer).scheme != "https":
            problems.append(f"loginsite.idp.issuer {parsed.idp.issuer} is not https")
        if parsed.idp.allow_http:
            problems.append("loginsite.idp.allow_http must be off")
    if parsed.settings is not None:
        problems.extend(production_risks(parsed.settings))  # also a WARNING at start-up
    elif parsed.session is not None and not parsed.session.secure:
        problems.append("loginsite.session.secure must be true (Secure, __Host- cookies)")
    if problems:
        report.fail("production", "; ".join(problems))
    else:
        report.ok("production", "https everywhere, secure cookies")


def check_security_events(parsed: ParsedSettings, report: Report) -> None:
    """The push URL login.gov needs: built from public_url, https, port 443 (its rule)."""
    if parsed.public_url is None:
        report.skip("security events", "needs a valid loginsite.public_url")
        return
    url = parsed.public_url + SECURITY_EVENTS_PATH
    parts = urlsplit(url)
    if parts.scheme != "https" or parts.port not in (None, 443):
        detail = f"{url} (from loginsite.public_url) must be https on port 443 for login.gov"
        if parsed.environment == "production":
            report.fail("security events", detail)
        else:
            report.skip("security events", detail + "; the development provider pushes here")
        return
    report.ok(
        "security events",
        f"register {url} as the push_notification_url in the login.gov partner portal, so "
        "that account events (suspended, deleted, password reset...) end the user's sessions",
    )


def check_redirect_uris(parsed: ParsedSettings, report: Report) -> None:
    """The two URIs to register with login.gov: public_url and ``loginsite.auth.prefix``."""
    if parsed.public_url is None or parsed.auth is None:
        report.skip("redirect URIs", "needs valid loginsite.public_url and loginsite.auth.*")
        return
    base = parsed.public_url
    report.ok(
        "redirect URIs",
        f"register {base + parsed.auth.callback_path} (redirect URI) and "
        f"{base + parsed.auth.signed_out_path} (post-logout redirect URI) in the login.gov "
        "partner portal",
    )


def run_checks(
    ini: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    http: requests.Session | None = None,
) -> Report:
    report = Report()
    parsed = parse_settings(ini, environ)
    check_settings(parsed, report)
    check_production(parsed, report)
    check_security_events(parsed, report)
    check_redirect_uris(parsed, report)
    idp = parsed.idp
    if idp is None:
        for name in ("certificate", "discovery", "jwks"):
            report.skip(name, "needs valid loginsite.idp.* settings")
        return report
    check_certificate(idp, report, now())
    # The app's transport rules (timeout, deadline for the whole answer, size cap, no redirects).
    session = guarded(http or requests.Session(), idp.timeout)
    try:
        metadata = check_discovery(idp, report, session)
        if metadata is not None:
            check_jwks(idp, metadata, report, session)
        else:
            report.skip("jwks", "needs discovery")
    finally:
        if http is None:
            session.close()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="loginsite-check",
        description="Check a loginsite configuration and its identity provider.",
    )
    parser.add_argument("config_uri", help="the INI file, e.g. production.ini")
    parser.add_argument("--name", default="main", help="the app section (default: main)")
    args = parser.parse_args(argv)
    try:
        ini = load_ini(args.config_uri, args.name)
    except ConfigFileError as exc:
        print(f"FAIL  config: {exc}")
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
