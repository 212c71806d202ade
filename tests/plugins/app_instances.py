"""Several loginsite instances, each its own ``pserve`` process, as a load-balanced site runs them.

Each :class:`AppInstance` is served by waitress through ``pserve`` from an INI file written for
it (its own port, log file and revocation journal), so a test can SIGKILL one and start it again
from the same INI, journal included. They all share one ``public_url``, as servers behind a load
balancer do: a :class:`SiteBrowser` sends each request to the instance the test names, and keeps
its cookies in one ``requests`` cookie jar (cookies do not depend on the port), expiry included.
"""

from __future__ import annotations

import html
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from localservers.redis_server import free_port, terminate

START_TIMEOUT = 30.0
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
_FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.S)

_INI = """\
[app:main]
use = egg:loginsite
{settings}

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:{port}
threads = 4

[loggers]
keys = root, loginsite

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console

[logger_loginsite]
level = INFO
handlers =
qualname = loginsite

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(asctime)s %(levelname)-5.5s [%(name)s] %(message)s
"""


class AppInstance:
    """One app server process; :meth:`kill` and :meth:`start` keep its port, INI and journal."""

    def __init__(self, name: str, workdir: Path, settings: dict[str, str]) -> None:
        self.name = name
        self.workdir = workdir
        self.ini = workdir / f"{name}.ini"
        self.log = workdir / f"{name}.log"
        self.journal = workdir / f"{name}-journal.sqlite3"
        self.settings = {"loginsite.revocation.journal": str(self.journal), **settings}
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> AppInstance:
        """Start the process and wait until it answers HTTP (not until its list is synced)."""
        lines = "\n".join(f"{name} = {value}" for name, value in self.settings.items())
        self.ini.write_text(_INI.format(settings=lines, port=self.port))
        pserve = Path(sys.executable).with_name("pserve")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(pserve), str(self.ini)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"instance {self.name} exited:\n{self.log_text()}")
            try:
                requests.get(self.url + "/static/site.css", timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"instance {self.name} did not answer:\n{self.log_text()}")

    def kill(self) -> None:
        """SIGKILL: no atexit, no flush, nothing the process could still do for itself."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process)
        self.process = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


class SiteBrowser:
    """A browser on the site: one cookie jar, each request sent to the instance the test picks."""

    def __init__(self, public_url: str) -> None:
        self.public_url = public_url
        self.session = requests.Session()

    def get(self, instance: AppInstance, path: str, **params: str) -> requests.Response:
        return self.session.get(
            instance.url + path, params=params or None, allow_redirects=False, timeout=10
        )

    def post(self, instance: AppInstance, path: str, data: dict[str, str]) -> requests.Response:
        return self.session.post(instance.url + path, data=data, allow_redirects=False, timeout=10)

    def path_of(self, response: requests.Response) -> str:
        """The path of a redirect to the site (its Location names the public URL)."""
        location = response.headers["Location"]
        assert location.startswith(self.public_url + "/"), location
        return location[len(self.public_url) :]

    def close(self) -> None:
        self.session.close()


def hidden_fields(page: requests.Response, containing: str = "") -> dict[str, str]:
    """The hidden fields of the page's first form whose HTML contains ``containing``."""
    for form in _FORM.findall(page.text):
        if containing in form:
            return {name: html.unescape(value) for name, value in _HIDDEN.findall(form)}
    raise AssertionError(f"no form containing {containing!r} on the page")


def logout_state(response: requests.Response) -> str:
    """The ``state`` of a sign-out's redirect (to the provider, or straight to signed-out)."""
    return parse_qs(urlsplit(response.headers["Location"]).query)["state"][0]


#: The origin of the test provider's registered redirect URI, shared by every instance.
PUBLIC_URL = "https://app.example.test"


def redis_site_settings(
    provider: Any, redis_url: str, session_keys: str, workdir: Path
) -> dict[str, str]:
    """Settings of instances that sign in through ``provider`` and share the Redis at
    ``redis_url``; the client key is written into ``workdir``."""
    key_file = workdir / "client.pem"
    key_file.write_bytes(provider.client_private_key_pem)
    return {
        "loginsite.environment": "development",
        "loginsite.public_url": PUBLIC_URL,
        "loginsite.session.keys": session_keys,
        "loginsite.session.secure": "false",
        "loginsite.idp.issuer": provider.issuer,
        "loginsite.idp.client_id": provider.client_id,
        "loginsite.idp.private_key": str(key_file),
        "loginsite.idp.allow_http": "true",
        "loginsite.idp.timeout": "5",
        "loginsite.revocation.store": "redis",
        "loginsite.revocation.redis_url": redis_url,
        "loginsite.revocation.redis_timeout": "0.5",
        "loginsite.revocation.max_staleness": "30",
    }


@pytest.fixture
def shared_redis_settings(
    test_provider: Any, redis_server: Any, session_keys: str, tmp_path: Path
) -> dict[str, str]:
    """Settings of instances that sign in through the test provider and share one Redis."""
    return redis_site_settings(test_provider, redis_server.url, session_keys, tmp_path)


@pytest.fixture
def app_instances(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Any]]:
    """Call it with a name and the settings to get a started :class:`AppInstance`."""
    workdir = tmp_path_factory.mktemp("instances")
    instances: list[AppInstance] = []

    def make(name: str, settings: dict[str, str]) -> AppInstance:
        instance = AppInstance(name, workdir, settings)
        instances.append(instance)
        return instance.start()

    yield make
    for instance in instances:
        instance.stop()
