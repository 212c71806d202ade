"""``loginsite-keygen``: create the keys a deployment needs, and say what to do with them.

Writes, into ``--out`` (default: the current folder):

* ``client-private.pem`` (0600): the RSA-2048 key the app signs its client assertions with;
* ``client-certificate.pem``: a self-signed certificate of that key, to upload in the login.gov
  partner portal;
* ``session-keys`` (0600): a fresh ``KID:SECRET`` session signing key.

It never replaces an existing file. ``--session-key`` only prints a new session key entry, for
a key rotation (README "Key rotation"), and writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlsplit

from loginsite import credentials
from loginsite.settings import (
    AUTH_PREFIX,
    CALLBACK,
    SIGNED_OUT,
    SettingsError,
    parse_auth_prefix,
    parse_public_url,
)

PRIVATE_KEY = "client-private.pem"
CERTIFICATE = "client-certificate.pem"
SESSION_KEYS = "session-keys"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="loginsite-keygen",
        description="Create the client key, its certificate for login.gov and a session key.",
    )
    parser.add_argument("--out", default=None, type=Path, help="folder to write to (default: .)")
    parser.add_argument(
        "--session-key",
        action="store_true",
        help="only print one new KID:SECRET session key entry on stdout, to rotate the session "
        "key ring (see the README's Key rotation); writes no file",
    )
    parser.add_argument(
        "--public-url",
        default=None,
        help="the site's public URL, e.g. https://apply.example.gov (names the certificate and "
        "the redirect URIs to register)",
    )
    parser.add_argument(
        "--development",
        action="store_true",
        help="allow an http:// --public-url, as the app does only with "
        "loginsite.environment = development and loginsite.session.secure = false",
    )
    parser.add_argument(
        "--auth-prefix",
        default=AUTH_PREFIX,
        help="where the app serves its sign-in views, as loginsite.auth.prefix says "
        f"(default: {AUTH_PREFIX}); the redirect URIs are below it",
    )
    parser.add_argument(
        "--days", default=365, type=int, help="certificate lifetime in days (default: 365)"
    )
    args = parser.parse_args(argv)
    if args.session_key and (args.out is not None or args.public_url is not None):
        parser.error("--session-key prints a session key only: it takes no --out or --public-url")
    args.out = Path(".") if args.out is None else args.out
    if args.days < 1:
        parser.error("--days must be at least 1")
    try:
        args.auth_prefix = parse_auth_prefix("loginsite.auth.prefix", args.auth_prefix)
    except SettingsError as exc:
        parser.error(f"--auth-prefix {exc.problem}; the app applies the same rule to {exc.setting}")
    if args.public_url is not None:
        try:
            args.public_url = parse_public_url(args.public_url, allow_http=args.development)
        except SettingsError as exc:
            hint = (
                " (http is accepted only with --development, for a development configuration)"
                if urlsplit(args.public_url).scheme == "http" and not args.development
                else ""
            )
            parser.error(
                f"--public-url {exc.problem}{hint}; the app applies the same rule to "
                "loginsite.public_url, e.g. https://apply.example.gov"
            )
    return args


def next_steps(out: Path, public_url: str | None, auth_prefix: str = AUTH_PREFIX) -> str:
    base = (public_url or "https://YOUR-SITE") + auth_prefix
    key = out / PRIVATE_KEY
    prefix_note = (
        f"\n     (below loginsite.auth.prefix = {auth_prefix}, which the app must be given too)"
        if auth_prefix != AUTH_PREFIX
        else ""
    )
    return f"""
Next steps:
  1. In the login.gov Partner Portal (sandbox: https://portal.int.identitysandbox.gov), create
     the app's configuration with protocol OpenID Connect, private_key_jwt; choose an Issuer
     (the client_id), e.g. urn:gov:gsa:openidconnect.profiles:sp:sso:AGENCY:APP; upload
     {out / CERTIFICATE} as its certificate; and register exactly:
       redirect URI:              {base}{CALLBACK}
       post-logout redirect URI:  {base}{SIGNED_OUT}{prefix_note}
  2. Give the app its client key, either
       loginsite.idp.private_key = {key}        (INI), or
       LOGINSITE_IDP_PRIVATE_KEY="$(cat {key})"   (environment; the PEM itself or its path)
     and, so that `loginsite-check` can compare them, the certificate:
       loginsite.idp.certificate = {out / CERTIFICATE}   (or LOGINSITE_IDP_CERTIFICATE)
  3. Give the app its session key ring, either
       loginsite.session.keys_file = {out / SESSION_KEYS}   (or LOGINSITE_SESSION_KEYS_FILE), or
       LOGINSITE_SESSION_KEYS="$(cat {out / SESSION_KEYS})"
     To rotate it later without signing anyone out, follow the README's Key rotation
     (`loginsite-keygen --session-key` prints a new entry).
  4. Keep {key.name} and {SESSION_KEYS} secret: never commit them. Then run
       .venv/bin/loginsite-check CONFIG.ini   (sandbox.ini on a laptop, production.ini to deploy)
"""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.session_key:
        print(credentials.new_session_key_entry())
        return 0
    out: Path = args.out
    targets = [out / PRIVATE_KEY, out / CERTIFICATE, out / SESSION_KEYS]
    existing = [str(p) for p in targets if p.exists() or p.is_symlink()]
    if existing:
        print(f"loginsite-keygen: refusing to overwrite {', '.join(existing)}", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    common_name = urlsplit(args.public_url).hostname if args.public_url else "loginsite"
    key = credentials.generate_client_key()
    try:
        credentials.write_secret_file(targets[0], credentials.private_key_pem(key))
        credentials.write_public_file(
            targets[1],
            credentials.certificate_pem(
                credentials.self_signed_certificate(key, common_name, args.days)
            ),
        )
        credentials.write_secret_file(targets[2], credentials.new_session_key_entry() + "\n")
    except FileExistsError as exc:  # appeared since the check above
        print(f"loginsite-keygen: refusing to overwrite {exc.filename}", file=sys.stderr)
        return 1
    for path in targets:
        print(f"wrote {path}")
    print(next_steps(out.resolve(), args.public_url, args.auth_prefix))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
