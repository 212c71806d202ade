"""The CPU cost of completing a sign-in: the ``/auth/callback`` request, provider keys warm.

The development provider (``loginsite.devidp``) runs in a server subprocess, so its own work
(signing the ID token, checking the client assertion) is not counted; the app under test runs
in this process and completes real sign-ins against it: the authorization code exchanged at the
token endpoint with a signed client assertion, the ID token verified against the (cached) JWKS,
userinfo fetched, the session cookie minted. Per callback we record this process's CPU time
(``time.process_time``) and the wall time (which includes the provider's answers).
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pyramid.interfaces import ISecurityPolicy
from pyramid.request import Request

from benchmarks.variants import EMAIL
from localservers.redis_server import free_port, terminate

CLIENT_ID = "urn:gov:gsa:openidconnect.profiles:sp:sso:bench:loginsite"
ROOT = Path(__file__).resolve().parent.parent
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
WARMUP = 2


def app_settings(url: str, workdir: Path, session_keys: str) -> dict[str, str]:
    return {
        "loginsite.environment": "development",
        "loginsite.public_url": url,
        "loginsite.session.keys": session_keys,
        "loginsite.session.secure": "false",
        "loginsite.revocation.store": "memory",
        "loginsite.idp.issuer": url + "/_devidp/",
        "loginsite.idp.client_id": CLIENT_ID,
        "loginsite.idp.private_key": str(workdir / "client-private.pem"),
        "loginsite.idp.allow_http": "true",
        "loginsite.idp.timeout": "5",
        "loginsite.devidp.data_dir": str(workdir / "devidp"),
    }


@dataclass
class SignInResult:
    count: int
    cpu_ms: list[float]
    wall_ms: list[float]
    cookie_bytes: int

    def markdown(self) -> list[str]:
        cpu = statistics.median(self.cpu_ms)
        wall = statistics.median(self.wall_ms)
        return [
            f"Completing a sign-in (`/auth/callback`, provider keys and metadata warm, "
            f"{self.count} sign-ins against the development provider in another process):",
            "",
            f"- CPU in the app: median **{cpu:.2f} ms** per callback "
            f"(min {min(self.cpu_ms):.2f}, max {max(self.cpu_ms):.2f}): about "
            f"{1000 / cpu:,.0f} sign-ins per second per core, excluding the provider",
            f"- Wall time: median {wall:.2f} ms (includes the token and userinfo round trips)",
            f"- Session cookie it set: {self.cookie_bytes} bytes (name=value)",
        ]


class _Provider:
    """The app with ``loginsite.devidp`` under waitress in a subprocess."""

    def __init__(self, settings: dict[str, str], port: int, log: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        code = (
            "import sys, json, logging, waitress; from loginsite import main; "
            "logging.basicConfig(level=logging.WARNING); "
            "s = json.loads(sys.argv[1]); "
            "app = main({}, **{**s, 'pyramid.includes': 'loginsite.devidp'}); "
            "waitress.serve(app, host='127.0.0.1', port=int(sys.argv[2]), threads=4, _quiet=True)"
        )
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code, json.dumps(settings), str(port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.log = log
        self.url = f"http://127.0.0.1:{port}"

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the provider exited:\n{self.log.read_text()[-3000:]}")
            try:
                requests.get(self.url + "/_devidp/.well-known/openid-configuration", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"the provider did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        terminate(self.process)


def _cookies(headers: list[tuple[str, str]]) -> dict[str, str]:
    found = {}
    for name, value in headers:
        if name.lower() == "set-cookie":
            pair = value.split(";", 1)[0]
            key, _, val = pair.partition("=")
            found[key.strip()] = val
    return found


def _one_signin(app: Any, browser: requests.Session, host: str) -> tuple[float, float, int]:
    login = Request.blank("/auth/login", base_url=host).get_response(app)
    if login.status_int != 303:
        raise RuntimeError(f"/auth/login answered {login.status}")
    jar = _cookies(login.headerlist)
    page = browser.get(login.location, timeout=10, allow_redirects=False)
    if page.status_code != 200:
        raise RuntimeError(f"the provider's authorize page answered {page.status_code}")
    form = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
    form.update(user="other", email=EMAIL, action="approve")
    answer = browser.post(
        login.location.split("?")[0], data=form, timeout=10, allow_redirects=False
    )
    if answer.status_code != 303:
        raise RuntimeError(f"the provider's approval answered {answer.status_code}")
    callback = urlsplit(answer.headers["Location"])
    if "code" not in parse_qs(callback.query):
        raise RuntimeError(f"the provider sent no code: {callback.query}")
    request = Request.blank(
        f"{callback.path}?{callback.query}",
        base_url=host,
        headers={"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())},
    )
    cpu0, wall0 = time.process_time(), time.perf_counter()
    response = request.get_response(app)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if response.status_int != 303:
        raise RuntimeError(f"/auth/callback answered {response.status}: {response.text[:500]}")
    name = app.registry.getUtility(ISecurityPolicy).cookie_name
    value = _cookies(response.headerlist).get(name)
    if not value:
        raise RuntimeError(f"/auth/callback set no session cookie ({name})")
    return cpu * 1000, wall * 1000, len(name) + 1 + len(value)


def measure_signin(count: int) -> SignInResult:
    from loginsite import main

    workdir = Path(tempfile.mkdtemp(prefix="loginsite-bench-signin-"))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (workdir / "client-private.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (workdir / "devidp").mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    session_keys = f"k1:{secrets.token_urlsafe(32)}"
    settings = app_settings(url, workdir, session_keys)
    provider = _Provider(settings, port, workdir / "provider.log")
    browser = requests.Session()
    try:
        provider.wait_ready()
        app = main({}, **settings)
        cpu_ms, wall_ms, size = [], [], 0
        for i in range(WARMUP + count):
            cpu, wall, size = _one_signin(app, browser, url)
            if i >= WARMUP:
                cpu_ms.append(cpu)
                wall_ms.append(wall)
        return SignInResult(count, cpu_ms, wall_ms, size)
    finally:
        browser.close()
        provider.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    result = measure_signin(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
    print("\n".join(result.markdown()))
