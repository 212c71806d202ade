"""The deployment of ``make cluster`` (deploy/), driven through its real load balancer.

HAProxy terminating TLS, three production-configured loginsite instances, Redis behind three
Sentinels, the development provider standing in for login.gov: the same processes as
``make cluster``, on free ports. Signed-in users keep a steady load of page requests on the
site while one instance is SIGKILLed and restarted with a large revocation list to load:
not one request may fail or come back signed out, and the restarted instance may not see a
single request before its ``/readyz`` answered 200.

One test, because the cluster takes a while to start on a busy machine and every step needs it;
it also checks, through the load balancer, that sign-in works and that the instances see https
(their Origin check runs on POSTs).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from deploy.cluster import Cluster, Ports
from deploy.processes import Instance
from loginsite.revocation.redis import EntryCodec, StoredEntry
from loginsite.settings import parse_session_keys
from tests.plugins.app_instances import hidden_fields

pytestmark = pytest.mark.redis

#: Live entries in the shared revocation list: enough that a restarted instance takes a while
#: to read them (several seconds even on a quiet machine, where 250k loaded before HAProxy
#: asked once), during which its /readyz answers 503.
LIST_SIZE = 1_000_000
KEY_PREFIX = "loginsite:revocation:"  # the default, which deploy/loginsite.ini keeps
USERS = ("alice@example.gov", "bob@example.gov", "chen@example.gov")
LOAD_THREADS = 3
#: Pause between one thread's requests: a steady load that leaves the 2-core machine room.
PACE = 0.02
#: Requests the restarted instance must have served before the test ends (it is back for real).
SERVED_AFTER_RESTART = 20
DEADLINE = 90.0


def _command(*parts: bytes) -> bytes:
    """One Redis command in the protocol's own encoding (RESP)."""
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def fill_revocation_list(cluster: Cluster, size: int) -> None:
    """``size`` live entries, as sign-outs over the last ten minutes would have left them,
    signed with the cluster's session keys (an entry whose MAC fails would be skipped).
    ``redis-cli --pipe`` sends them, much faster than a client library."""
    assert cluster.secrets is not None
    keys = parse_session_keys(
        "loginsite.session.keys", cluster.secrets.session_keys_file.read_text()
    )
    codec = EntryCodec(keys, KEY_PREFIX)
    stream = f"{KEY_PREFIX}stream".encode()
    now = time.time()
    first_ms, expires = int((now - 600) * 1000), int(now) + 3600
    commands = b"".join(
        _command(
            b"XADD",
            stream,
            b"%d-%d" % (first_ms + 590_000 * n // size, n + 1),
            b"r",
            codec.encode(StoredEntry("jti", secrets.token_urlsafe(16), 0, expires)),
        )
        for n in range(size)
    )
    piped = subprocess.run(
        ["redis-cli", "-p", str(cluster.ports.redis[0]), "--no-auth-warning", "--pipe"],
        input=commands,
        capture_output=True,
        env={**os.environ, "REDISCLI_AUTH": cluster.secrets.redis_password},
        timeout=DEADLINE,
        check=False,
    )
    assert piped.returncode == 0, piped.stdout + piped.stderr
    assert f"errors: 0, replies: {size}".encode() in piped.stdout, piped.stdout


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    # DEBUG: the access log records the load balancer's /readyz checks too.
    cluster = Cluster(tmp_path / "cluster", Ports.free(), access_log_level="DEBUG")
    try:
        cluster.start_redis()
        fill_revocation_list(cluster, LIST_SIZE)
        cluster.start_apps()
        cluster.start_balancer()
        cluster.wait_sentinels_agree()
        yield cluster
    finally:
        cluster.stop()


def browser(cluster: Cluster) -> requests.Session:
    session = requests.Session()
    session.verify = str(cluster.ca_file)  # the generated CA: TLS is checked for real
    session.trust_env = False  # else REQUESTS_CA_BUNDLE, if set, wins over verify
    return session


def sign_in(cluster: Cluster, email: str) -> tuple[requests.Session, str]:
    """Sign in through the load balancer, as a browser does: the site, the provider's page, the
    callback. Every step may land on any instance. Returns the browser and the code it was
    given for the callback."""
    site = browser(cluster)
    login = site.get(cluster.public_url + "/auth/login?next=/account", allow_redirects=False)
    assert login.status_code == 303, login.text
    authorize_url = login.headers["Location"]
    assert authorize_url.startswith(cluster.public_url + "/_devidp/"), authorize_url
    page = site.get(authorize_url, allow_redirects=False)
    assert page.status_code == 200, page.text
    approved = site.post(
        authorize_url.split("?", 1)[0],
        data={**hidden_fields(page, "csrf_token"), "user": email, "action": "approve"},
        headers={"Origin": cluster.public_url},  # what a browser sends with a form POST
        allow_redirects=False,
    )
    assert approved.status_code == 303, approved.text
    callback = approved.headers["Location"]
    assert urlsplit(callback).path == "/auth/callback", callback
    done = site.get(callback, allow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["Location"] == cluster.public_url + "/account"
    assert site.cookies.get("__Host-loginsite"), done.headers
    return site, parse_qs(urlsplit(callback).query)["code"][0]


def check_the_origin_check_runs(cluster: Cluster, site: requests.Session) -> None:
    """The instances see https through HAProxy's X-Forwarded-Proto (they trust it from the
    load balancer only), so Pyramid checks the Origin of a POST: a sign-out form posted from
    another origin is refused, the same form from the site goes through."""
    form = site.get(cluster.public_url + "/auth/logout", allow_redirects=False)
    assert form.status_code == 200, form.text
    fields = hidden_fields(form, "csrf_token")
    refused = site.post(
        cluster.public_url + "/auth/logout",
        data=fields,
        headers={"Origin": "https://attacker.example"},
        allow_redirects=False,
    )
    assert refused.status_code == 400, refused.text
    signed_out = site.post(
        cluster.public_url + "/auth/logout",
        data=fields,
        headers={"Origin": cluster.public_url},
        allow_redirects=False,
    )
    assert signed_out.status_code == 303, signed_out.text
    assert signed_out.headers["Strict-Transport-Security"].startswith("max-age=")


@dataclass
class Load:
    """Threads requesting /account as signed-in users until stopped; every answer is checked."""

    cluster: Cluster
    users: dict[str, requests.Session]
    answers: list[float] = field(default_factory=list)  # when each correct answer arrived
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        emails = list(self.users)
        for n in range(LOAD_THREADS):
            email = emails[n % len(emails)]
            client = browser(self.cluster)
            client.cookies.update(self.users[email].cookies)
            thread = threading.Thread(target=self._run, args=(client, email), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, client: requests.Session, email: str) -> None:
        url = self.cluster.public_url + "/account"
        while not self._stop.is_set():
            try:
                answer = client.get(url, allow_redirects=False, timeout=10)
            except requests.RequestException as exc:
                self.errors.append(f"{time.monotonic():.3f} {email}: {exc!r}")
            else:
                if answer.status_code != 200 or email not in answer.text:
                    self.errors.append(
                        f"{time.monotonic():.3f} {email}: {answer.status_code} "
                        f"{answer.headers.get('Location', '')} {answer.text[:200]!r}"
                    )
                elif "set-cookie" in answer.headers and "Max-Age=0" in answer.headers["set-cookie"]:
                    self.errors.append(f"{time.monotonic():.3f} {email}: the cookie was cleared")
                else:
                    self.answers.append(time.monotonic())
            self._stop.wait(PACE)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)


def access_lines(instance: Instance) -> list[dict[str, object]]:
    """This run's access-log lines of the instance (JSON, one per request, /readyz included)."""
    lines = []
    for line in instance.log_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("name") == "loginsite.access":
                lines.append(record)
    return lines


def served(instance: Instance) -> list[dict[str, object]]:
    """The signed-in page requests of the load that reached the instance."""
    return [line for line in access_lines(instance) if line["path"] == "/account"]


def wait_until(what: str, check: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.05)


def revocation_entries(instance: Instance) -> float:
    """``loginsite_revocation_entries`` from the instance's metrics listener."""
    text = requests.get(instance.metrics_url, timeout=5).text
    for line in text.splitlines():
        if line.startswith("loginsite_revocation_entries "):
            return float(line.split()[1])
    raise AssertionError("no loginsite_revocation_entries series")


def test_a_killed_instance_costs_no_request_and_gets_none_until_ready(cluster: Cluster) -> None:
    victim = cluster.instance("app2")
    signed_in = {email: sign_in(cluster, email) for email in USERS}
    check_the_origin_check_runs(cluster, sign_in(cluster, USERS[0])[0])
    load = Load(cluster, {email: site for email, (site, _code) in signed_in.items()})
    load.start()
    try:
        # Every instance takes its share before anything happens.
        for instance in cluster.instances:
            wait_until(f"{instance.name} serving the load", lambda i=instance: served(i), 30)

        victim.kill()
        killed_at = time.monotonic()
        victim.start()  # at once, as a supervisor would; its list takes a while to load
        wait_until(
            "HAProxy taking app2 out",
            lambda: cluster.server_states().get("app2") != "UP",
            DEADLINE,
        )
        wait_until(
            "HAProxy putting app2 back once ready",
            lambda: cluster.server_states().get("app2") == "UP",
            DEADLINE,
        )
        back_at = time.monotonic()
        wait_until(
            "the restarted app2 serving the load",
            lambda: len(served(victim)) >= SERVED_AFTER_RESTART,
            DEADLINE,
        )
    finally:
        load.stop()

    # (1) Not one client saw an error or a signed-out page, while requests kept coming.
    assert load.errors == [], "\n".join(load.errors[:20])
    during = [t for t in load.answers if killed_at <= t <= back_at]
    assert during, "no request was answered while app2 was out: the load did not run"

    # (2) The restarted instance saw no request before its /readyz said 200.
    lines = access_lines(victim)
    checks = [(n, line["status"]) for n, line in enumerate(lines) if line["path"] == "/readyz"]
    first_ready = next((n for n, status in checks if status == 200), None)
    assert first_ready is not None, "app2's /readyz never answered 200"
    not_ready = [n for n, status in checks if n < first_ready and status == 503]
    assert not_ready, "app2 was never asked while loading: the list was too small to tell"
    early = [line for line in lines[:first_ready] if line["path"] not in ("/readyz", "/healthz")]
    assert early == [], f"requests reached app2 before it was ready: {early[:5]}"
    after = served(victim)
    assert len(after) >= SERVED_AFTER_RESTART
    assert all(line["status"] == 200 and line["sub"] for line in after), after[:5]
    assert revocation_entries(victim) >= LIST_SIZE  # the whole list, loaded before serving

    # No log, the load balancer's included, holds a code the callbacks carried.
    logs = "".join(path.read_text(errors="replace") for path in cluster.logs.glob("*.log"))
    assert "/auth/callback" in logs
    for _site, code in signed_in.values():
        assert code not in logs
