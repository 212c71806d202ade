"""README's "From the development provider to the login.gov sandbox", as far as it runs offline.

The guide's own commands (keygen, the shipped sandbox.ini, the env var, loginsite-check) run here
in order; only the provider is a stand-in: the development provider served over real HTTP in
place of https://idp.int.identitysandbox.gov/, which this machine cannot reach.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyramid.paster import get_appsettings

from loginsite.scripts import check, keygen
from loginsite.settings import app_settings
from tests.plugins.live_server import LiveServer

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ID = "urn:gov:gsa:openidconnect.profiles:sp:sso:agency:guide"


@pytest.fixture(autouse=True)
def _no_loginsite_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LOGINSITE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def sandbox_ini(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    """Step 1: keygen into var/sandbox next to a copy of sandbox.ini; returns its printout."""
    copy = tmp_path / "sandbox.ini"
    shutil.copy(ROOT / "sandbox.ini", copy)
    argv = ["--out", str(tmp_path / "var" / "sandbox"), "--development"]
    assert keygen.main([*argv, "--public-url", "http://localhost:6543"]) == 0
    return copy, capsys.readouterr().out


def test_sandbox_ini_points_at_the_sandbox_and_matches_keygen(
    sandbox_ini: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ini, printed = sandbox_ini
    monkeypatch.setenv("LOGINSITE_IDP_CLIENT_ID", CLIENT_ID)
    settings = app_settings(dict(get_appsettings(str(ini), name="main")))
    assert settings.idp.issuer == "https://idp.int.identitysandbox.gov/"
    assert settings.idp.client_id == CLIENT_ID
    assert not settings.idp.allow_http
    # The URIs keygen tells the team to register are the ones this app sends.
    assert f"redirect URI:              {settings.redirect_uri}\n" in printed
    assert f"post-logout redirect URI:  {settings.post_logout_redirect_uri}\n" in printed
    assert "https://portal.int.identitysandbox.gov" in printed


def test_sandbox_ini_without_the_client_id_names_it(sandbox_ini: tuple[Path, str]) -> None:
    ini, _ = sandbox_ini
    with pytest.raises(ValueError, match="LOGINSITE_IDP_CLIENT_ID"):
        app_settings(dict(get_appsettings(str(ini), name="main")))


def test_loginsite_check_passes_the_guides_configuration(
    sandbox_ini: tuple[Path, str],
    live_server: Callable[[], LiveServer],
    make_app: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stand_in = live_server()
    stand_in.start(
        make_app(
            **{
                "loginsite.public_url": stand_in.url,
                "pyramid.includes": "loginsite.devidp",
                "loginsite.devidp.data_dir": str(tmp_path / "devidp"),
                "loginsite.idp.issuer": stand_in.url + "/_devidp/",
            }
        )
    )
    ini, _ = sandbox_ini
    monkeypatch.setenv("LOGINSITE_IDP_CLIENT_ID", CLIENT_ID)
    # The only departure from the guide: the stand-in's issuer, over http, instead of the sandbox.
    monkeypatch.setenv("LOGINSITE_IDP_ISSUER", stand_in.url + "/_devidp/")
    monkeypatch.setenv("LOGINSITE_IDP_ALLOW_HTTP", "true")
    code = check.main([str(ini)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "FAIL" not in out
    assert out.strip().endswith("ready")
