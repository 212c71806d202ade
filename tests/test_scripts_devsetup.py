"""loginsite-devsetup, and development.ini building the app with the development provider."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
import webtest
from cryptography import x509
from pyramid.paster import get_app

from loginsite import credentials
from loginsite.scripts import devsetup
from tests.plugins.session_keys import SECRET_1

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_loginsite_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LOGINSITE_"):
            monkeypatch.delenv(name)


def write_ini(path: Path, **settings: str) -> Path:
    lines = ["[app:main]", "use = egg:loginsite"]
    lines += [f"{name} = {value}" for name, value in settings.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def dev_ini(tmp_path: Path, **overrides: str) -> Path:
    settings = {
        "loginsite.environment": "development",
        "loginsite.public_url": "http://localhost:6543",
        "loginsite.session.keys_file": "%(here)s/var/dev/session-keys",
        "loginsite.session.secure": "false",
        "loginsite.idp.issuer": "http://localhost:6543/_devidp/",
        "loginsite.idp.client_id": "urn:gov:gsa:openidconnect.profiles:sp:sso:dev:loginsite",
        "loginsite.idp.private_key": "%(here)s/var/dev/client-private.pem",
        "loginsite.idp.certificate": "%(here)s/var/dev/client-certificate.pem",
        "loginsite.idp.allow_http": "true",
        "loginsite.devidp.data_dir": "%(here)s/var/dev",
        **overrides,
    }
    return write_ini(tmp_path / "dev.ini", **settings)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_creates_what_is_missing_then_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ini = dev_ini(tmp_path)
    assert devsetup.main([str(ini)]) == 0
    dev = tmp_path / "var" / "dev"
    assert mode(dev / "session-keys") == 0o600
    assert mode(dev / "client-private.pem") == 0o600
    key = credentials.load_private_key((dev / "client-private.pem").read_bytes())
    cert = x509.load_pem_x509_certificate((dev / "client-certificate.pem").read_bytes())
    assert credentials.certificate_matches_key(cert, key)
    first = capsys.readouterr().out
    assert first.count("created") == 3

    before = {p.name: p.read_bytes() for p in dev.iterdir()}
    assert devsetup.main([str(ini)]) == 0
    assert {p.name: p.read_bytes() for p in dev.iterdir()} == before
    again = capsys.readouterr().out
    assert "created" not in again
    assert again.count("exists") == 3


def test_replaces_a_certificate_of_another_key(tmp_path: Path) -> None:
    ini = dev_ini(tmp_path)
    assert devsetup.main([str(ini)]) == 0
    dev = tmp_path / "var" / "dev"
    (dev / "client-private.pem").unlink()
    old_cert = (dev / "client-certificate.pem").read_bytes()
    assert devsetup.main([str(ini)]) == 0
    assert (dev / "client-certificate.pem").read_bytes() != old_cert
    key = credentials.load_private_key((dev / "client-private.pem").read_bytes())
    cert = x509.load_pem_x509_certificate((dev / "client-certificate.pem").read_bytes())
    assert credentials.certificate_matches_key(cert, key)


def test_inline_session_keys_need_no_file(tmp_path: Path) -> None:
    ini = dev_ini(tmp_path, **{"loginsite.session.keys": f"k1:{SECRET_1}"})
    assert devsetup.main([str(ini)]) == 0
    assert not (tmp_path / "var" / "dev" / "session-keys").exists()


def test_refuses_a_production_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ini = dev_ini(tmp_path, **{"loginsite.environment": "production"})
    monkeypatch.setenv("LOGINSITE_ENVIRONMENT", "development")  # cannot switch it
    assert devsetup.main([str(ini)]) == 1
    assert "not a development configuration" in capsys.readouterr().err
    assert not (tmp_path / "var").exists()


def test_refuses_production_ini(capsys: pytest.CaptureFixture[str]) -> None:
    assert devsetup.main([str(ROOT / "production.ini")]) == 1
    assert "not a development configuration" in capsys.readouterr().err


def test_reports_settings_still_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ini = dev_ini(tmp_path, **{"loginsite.idp.client_id": ""})
    assert devsetup.main([str(ini)]) == 1
    assert "loginsite.idp.client_id" in capsys.readouterr().err


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert devsetup.main([str(tmp_path / "nope.ini")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_development_ini_builds_the_app_with_the_development_provider(tmp_path: Path) -> None:
    copy = tmp_path / "development.ini"
    shutil.copy(ROOT / "development.ini", copy)
    assert devsetup.main([str(copy)]) == 0
    assert (tmp_path / "var" / "dev" / "client-private.pem").exists()

    app = get_app(str(copy), "main")
    assert (tmp_path / "var" / "dev" / "devidp-signing-key.pem").exists()
    testapp = webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost:6543"})
    meta = testapp.get("/_devidp/.well-known/openid-configuration").json
    assert meta["issuer"] == "http://localhost:6543/_devidp/"
    assert testapp.get("/").status_int == 200
