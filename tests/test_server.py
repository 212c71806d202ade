"""The waitress runner pserve uses: one port setting, one-line errors (real pserve processes)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from loginsite.scripts import devsetup
from loginsite.server import listen_ports, port_mismatch
from loginsite.settings import app_settings

ROOT = Path(__file__).resolve().parent.parent
PSERVE = str(Path(sys.executable).with_name("pserve"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dev_ini(tmp_path: Path) -> Path:
    """A copy of the shipped development.ini with its development keys in ``tmp_path``."""
    copy = tmp_path / "development.ini"
    shutil.copy(ROOT / "development.ini", copy)
    assert devsetup.main([str(copy)]) == 0
    return copy


def pserve(ini: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PSERVE, str(ini)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str]:
    try:
        _, err = process.communicate(timeout=timeout)
    finally:
        process.kill()
    return process.returncode, err


@pytest.fixture
def served() -> Callable[..., subprocess.Popen[str]]:
    started: list[subprocess.Popen[str]] = []

    def start(ini: Path, **env: str) -> subprocess.Popen[str]:
        process = pserve(ini, **env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.communicate()


def wait_for(url: str, process: subprocess.Popen[str], timeout: float = 30) -> requests.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"pserve exited: {process.communicate()[1]}")
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            time.sleep(0.1)
    pytest.fail(f"nothing answered at {url}")


def test_the_port_is_set_in_one_place(
    dev_ini: Path, served: Callable[..., subprocess.Popen[str]]
) -> None:
    """`make run PORT=N` sets only the public URL; the server and the provider follow it."""
    port = free_port()
    process = served(dev_ini, LOGINSITE_PUBLIC_URL=f"http://localhost:{port}")
    discovery = wait_for(
        f"http://localhost:{port}/_devidp/.well-known/openid-configuration", process
    )
    assert discovery.json()["issuer"] == f"http://localhost:{port}/_devidp/"
    login = requests.get(f"http://localhost:{port}/auth/login", allow_redirects=False, timeout=5)
    assert login.status_code == 303
    assert login.headers["Location"].startswith(
        f"http://localhost:{port}/_devidp/openid_connect/authorize?"
    )


def test_a_busy_port_is_one_line(dev_ini: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, err = finish(pserve(dev_ini, LOGINSITE_PUBLIC_URL=f"http://127.0.0.1:{port}"))
    assert code == 1
    assert f"loginsite: cannot listen on 127.0.0.1:{port}: the address is already in use" in err
    assert "Traceback" not in err


def test_a_listen_that_misses_the_public_url_is_refused(dev_ini: Path) -> None:
    text = dev_ini.read_text().replace(
        "use = egg:loginsite#waitress", "use = egg:loginsite#waitress\nlisten = localhost:1"
    )
    dev_ini.write_text(text)
    code, err = finish(pserve(dev_ini))
    assert code == 1
    for name in ("listen = localhost:1", "loginsite.public_url", "loginsite.idp.issuer"):
        assert name in err
    assert "Traceback" not in err


def test_a_settings_error_under_pserve_is_the_error_alone(dev_ini: Path) -> None:
    code, err = finish(pserve(dev_ini, LOGINSITE_SESSION_IDLE_TIMEOUT="soon"))
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        "loginsite: loginsite.session.idle_timeout (or env LOGINSITE_SESSION_IDLE_TIMEOUT): "
        "must be a whole number of seconds greater than 0, not 'soon'"
    )
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("kw", "ports"),
    [
        ({"listen": "localhost:6543"}, {6543}),
        ({"listen": "127.0.0.1:7000 [::1]:7001"}, {7000, 7001}),
        ({"port": "8000"}, {8000}),
        ({}, {8080}),
    ],
)
def test_listen_ports(kw: dict[str, str], ports: set[int]) -> None:
    assert listen_ports(kw) == ports


def test_port_mismatch_only_in_development_on_loopback(settings: dict[str, str]) -> None:
    development = app_settings(settings)
    assert development.public_url.startswith("http://localhost:")
    public_port = development.public_url.rsplit(":", 1)[1]
    assert port_mismatch(development, {"listen": f"localhost:{public_port}"}) is None
    assert "does not serve" in (port_mismatch(development, {"listen": "localhost:1"}) or "")

    elsewhere = app_settings({**settings, "loginsite.public_url": "http://dev.example:8080"})
    assert port_mismatch(elsewhere, {"listen": "0.0.0.0:6543"}) is None
