"""``loginsite-devsetup development.ini``: create what a development run needs, if missing.

Reads the INI's settings and creates the files they name that do not exist yet: the session key
ring (``loginsite.session.keys_file``), the client key (``loginsite.idp.private_key``) and its
certificate (``loginsite.idp.certificate``). Running it again changes nothing. It refuses to run
unless ``loginsite.environment = development``. The development provider creates its own signing
key in ``loginsite.devidp.data_dir`` when the app starts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cryptography import x509

from loginsite import credentials
from loginsite.scripts.ini import ConfigFileError, load_ini
from loginsite.settings import RawSettings, SettingsError, app_settings


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="loginsite-devsetup",
        description="Create the development keys named by a development INI file, if missing.",
    )
    parser.add_argument("config_uri", help="the INI file, e.g. development.ini")
    parser.add_argument("--name", default="main", help="the app section (default: main)")
    return parser.parse_args(argv)


def _file_setting(raw: RawSettings, name: str) -> Path | None:
    value = raw.get(name)
    if value is None or value.startswith("-----BEGIN"):  # the PEM itself, from the environment
        return None
    return Path(value)


def setup(ini: dict[str, str], out: list[str]) -> None:
    """Create what is missing; ``out`` collects one line per action."""
    raw = RawSettings(ini)
    keys_file = (
        None
        if raw.get("loginsite.session.keys")
        else _file_setting(raw, "loginsite.session.keys_file")
    )
    if keys_file is not None:
        if keys_file.exists():
            out.append(f"exists   {keys_file}")
        else:
            keys_file.parent.mkdir(parents=True, exist_ok=True)
            credentials.write_secret_file(keys_file, credentials.new_session_key_entry() + "\n")
            out.append(f"created  {keys_file} (session key ring)")

    key_file = _file_setting(raw, "loginsite.idp.private_key")
    client_key = None
    if key_file is not None:
        if key_file.exists():
            out.append(f"exists   {key_file}")
        else:
            key_file.parent.mkdir(parents=True, exist_ok=True)
            client_key = credentials.generate_client_key()
            credentials.write_secret_file(key_file, credentials.private_key_pem(client_key))
            out.append(f"created  {key_file} (client private key)")

    cert_file = _file_setting(raw, "loginsite.idp.certificate")
    if cert_file is None or key_file is None:
        return
    if client_key is None:
        client_key = credentials.load_private_key(key_file.read_bytes())
    if cert_file.exists():
        try:
            current = x509.load_pem_x509_certificate(cert_file.read_bytes())
        except ValueError:
            current = None
        if current is not None and credentials.certificate_matches_key(current, client_key):
            out.append(f"exists   {cert_file}")
            return
        # Development only: a certificate is public, and a stale one would only mislead.
        cert_file.unlink()
        action = "replaced"
    else:
        cert_file.parent.mkdir(parents=True, exist_ok=True)
        action = "created "
    certificate = credentials.self_signed_certificate(client_key, "loginsite development", 365)
    credentials.write_public_file(cert_file, credentials.certificate_pem(certificate))
    out.append(f"{action} {cert_file} (client certificate)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        ini = load_ini(args.config_uri, args.name)
    except ConfigFileError as exc:
        print(f"loginsite-devsetup: {exc}", file=sys.stderr)
        return 1
    # The environment comes from the INI file only, exactly as the app reads it.
    environment = ini.get("loginsite.environment", "production").strip()
    if environment != "development":
        print(
            f"loginsite-devsetup: {args.config_uri} is not a development configuration "
            f"(loginsite.environment = {environment}); use loginsite-keygen for real keys",
            file=sys.stderr,
        )
        return 1
    lines: list[str] = []
    try:
        setup(ini, lines)
    except (OSError, ValueError) as exc:
        print("\n".join(lines))
        print(f"loginsite-devsetup: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    try:
        app_settings(ini)
    except SettingsError as exc:
        print(f"loginsite-devsetup: the settings are still not valid: {exc}", file=sys.stderr)
        return 1
    print(f"ready    {args.config_uri}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
