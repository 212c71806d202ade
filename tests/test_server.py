"""The waitress runner pserve uses: one port setting, one-line errors (real pserve processes)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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


def finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
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


def wait_for(url: str, process: subprocess.Popen[str], timeout: float = 120) -> requests.Response:
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


# -- the Expect: 100-continue limitation (README, Known limitations) -----------------------------

_BODYLESS_EXPECT = [
    b"GET / HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
]


def _exchange(port: int, request: bytes, wait: float) -> bytes:
    """Send ``request``; everything the server says within ``wait`` seconds (or until close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(request)
        data = b""
        deadline = time.monotonic() + wait
        while _final_status(data) is None and time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
        return data


def _final_status(data: bytes) -> int | None:
    """The status of the first answer that is not an interim ``100 Continue``."""
    for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", data):
        if status != b"100":
            return int(status)
    return None


def _documented_haproxy_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```haproxy\n", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip()]


@pytest.fixture
def waitress_site(live_server: Callable[[], object], make_app: Callable[..., object]) -> int:
    server = live_server()
    server.start(make_app(**{"loginsite.public_url": server.url}))
    return server.port


@pytest.mark.parametrize("request_bytes", _BODYLESS_EXPECT, ids=["GET", "POST with no body"])
def test_waitress_still_hangs_on_a_bodyless_expect(
    waitress_site: int, request_bytes: bytes
) -> None:
    """The limitation is real with the waitress we ship: 100 Continue, then nothing. If this
    fails, a waitress release fixed it: drop the README's known limitation."""
    answer = _exchange(waitress_site, request_bytes, wait=3)
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert _final_status(answer) is None


@pytest.fixture
def haproxy_in_front(waitress_site: int, tmp_path: Path) -> Iterator[int]:
    """HAProxy with the README's two lines, in front of the app."""
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is missing: run scripts/install-system-deps (make test does)")
    port = free_port()
    config = tmp_path / "haproxy.cfg"
    lines = "\n  ".join(_documented_haproxy_lines())
    config.write_text(
        "defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n"
        "  timeout server 10s\n"
        f"frontend web\n  bind 127.0.0.1:{port}\n  {lines}\n  default_backend app\n"
        f"backend app\n  server app 127.0.0.1:{waitress_site}\n"
    )
    process = subprocess.Popen(
        ["haproxy", "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"haproxy did not start: {process.communicate()[1]}")
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("request_bytes", _BODYLESS_EXPECT, ids=["GET", "POST with no body"])
def test_the_documented_haproxy_lines_absorb_it(
    haproxy_in_front: int, request_bytes: bytes
) -> None:
    """Answered by the app at once (the POST is refused for its missing CSRF token: an answer)."""
    answer = _exchange(haproxy_in_front, request_bytes, wait=5)
    assert _final_status(answer) in (200, 400)
    assert not answer.startswith(b"HTTP/1.1 100")  # no interim answer: nothing was announced


def test_haproxy_still_relays_a_body_announced_with_expect(haproxy_in_front: int) -> None:
    """What Expect is for still works: the client is told to go on, and the body arrives."""
    form = b"x=1"
    answer = _exchange(
        haproxy_in_front,
        b"POST / HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: " + str(len(form)).encode() + b"\r\n\r\n" + form,
        wait=5,
    )
    assert answer.startswith(b"HTTP/1.1 100 Continue")
    assert _final_status(answer) == 400  # the app read the form: its CSRF check refused it
