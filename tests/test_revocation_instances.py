"""Revocation across app instances: separate pserve processes on one real redis-server.

Each instance is its own process over real HTTP (so it can be SIGKILLed), signs users in through
the test provider, and keeps its own revocation journal. Redis outages are real: the fixture's
redis-server is stopped and started again (empty: it persists nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.plugins.app_instances import (
    PUBLIC_URL,
    AppInstance,
    SiteBrowser,
    hidden_fields,
    logout_state,
)
from tests.plugins.oidc_provider import TestProvider

pytestmark = pytest.mark.redis

COOKIE = "loginsite"
SIGNED_IN, ANONYMOUS, UNVERIFIABLE = 200, 303, 503
#: Generous bounds for what happens in the background (propagation, resync), on 2 loaded cores.
SETTLE = 30.0


def wait_for(condition: Callable[[], bool], timeout: float = SETTLE, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


@dataclass
class Site:
    """Instances behind one public URL, the provider they trust, and the Redis they share."""

    provider: TestProvider
    redis: Any
    start_instance: Callable[..., AppInstance]
    settings: dict[str, str]

    def instance(self, name: str, **overrides: str) -> AppInstance:
        return self.start_instance(name, {**self.settings, **overrides})

    def browser(self) -> SiteBrowser:
        return SiteBrowser(PUBLIC_URL)

    def sign_in(self, browser: SiteBrowser, via: AppInstance, back: AppInstance | None = None):
        """Start at ``via``, come back from the provider to ``back``: a signed-in browser."""
        start = browser.get(via, "/auth/login", next="/account")
        assert start.status_code == 303, start.text
        params = self.provider.authorize(start.headers["Location"])
        done = browser.get(back or via, "/auth/callback", **params)
        assert done.status_code == 303, done.text
        assert browser.path_of(done) == "/account"
        return browser

    def holding(self, cookie: str) -> SiteBrowser:
        """A fresh browser holding a copy of a session cookie (a stolen copy, say).

        Fresh for every check: a refused cookie is cleared, and a browser without one would be
        anonymous whatever the revocation list says.
        """
        browser = self.browser()
        browser.session.cookies.set(COOKIE, cookie, domain="127.0.0.1")
        return browser

    def sign_out(
        self, browser: SiteBrowser, form: dict[str, str], via: AppInstance, back: AppInstance
    ) -> str:
        """Post a sign-out ``form`` loaded earlier; return the signed-out page it leads to."""
        logout = browser.post(via, "/auth/logout", form)
        assert logout.status_code == 303, logout.text
        assert logout.headers["Location"].startswith(self.provider.url("logout"))
        page = browser.get(back, "/auth/signed-out", state=logout_state(logout))
        assert page.status_code == 200, page.text
        return page.text


def status(browser: SiteBrowser, instance: AppInstance) -> int:
    return browser.get(instance, "/account").status_code


def cookie_of(browser: SiteBrowser) -> str:
    return browser.session.cookies[COOKIE]


def sign_out_form(browser: SiteBrowser, instance: AppInstance, *, everywhere: bool = False):
    page = browser.get(instance, "/account")
    assert page.status_code == 200, page.text
    return hidden_fields(page, 'name="everywhere"' if everywhere else ">Sign out</button>")


@pytest.fixture
def site(
    app_instances: Callable[..., AppInstance],
    test_provider: TestProvider,
    redis_server: Any,
    shared_redis_settings: dict[str, str],
) -> Site:
    settings = shared_redis_settings
    return Site(test_provider, redis_server, app_instances, settings)


def stop_redis_until_stale(site: Site, browser: SiteBrowser, *instances: AppInstance) -> None:
    """Stop Redis and wait until every instance fails closed for ``browser``'s session."""
    site.redis.stop()
    for instance in instances:
        assert wait_for(lambda i=instance: status(browser, i) == UNVERIFIABLE), instance.log_text()


def test_sign_out_during_an_outage_reaches_every_instance(site: Site) -> None:
    first = site.instance("a", **{"loginsite.revocation.max_staleness": "4"})
    second = site.instance("b", **{"loginsite.revocation.max_staleness": "4"})
    browser = site.sign_in(site.browser(), first)
    copied = cookie_of(browser)
    assert status(site.holding(copied), second) == SIGNED_IN
    form = sign_out_form(browser, first)

    stop_redis_until_stale(site, browser, first)  # request.identity is None from here on
    page = site.sign_out(browser, form, via=first, back=second)
    assert "You have signed out" in page
    assert "could not" not in page

    site.redis.start()
    assert wait_for(lambda: status(site.holding(copied), second) == ANONYMOUS), second.log_text()
    # The first instance may still be resyncing (503) when the second already refuses.
    assert wait_for(lambda: status(site.holding(copied), first) == ANONYMOUS), first.log_text()


def test_a_sign_in_replacing_a_session_during_an_outage_revokes_it(site: Site) -> None:
    first = site.instance("a", **{"loginsite.revocation.max_staleness": "4"})
    second = site.instance("b", **{"loginsite.revocation.max_staleness": "4"})
    browser = site.sign_in(site.browser(), first)
    copied = cookie_of(browser)

    stop_redis_until_stale(site, browser, first)
    site.sign_in(browser, first)  # a second sign-in in the same browser replaces the session
    assert cookie_of(browser) != copied

    site.redis.start()
    assert wait_for(lambda: status(site.holding(copied), second) == ANONYMOUS), second.log_text()
    assert status(browser, second) == SIGNED_IN


def test_a_sign_out_survives_its_instance_killed_before_redis_returns(site: Site) -> None:
    first = site.instance("a", **{"loginsite.revocation.max_staleness": "4"})
    second = site.instance("b", **{"loginsite.revocation.max_staleness": "4"})
    browser = site.sign_in(site.browser(), first)
    copied = cookie_of(browser)
    form = sign_out_form(browser, first)

    site.redis.stop()
    page = site.sign_out(browser, form, via=first, back=first)
    assert "You have signed out" in page
    first.kill()  # SIGKILL, Redis still down: only the journal on disk knows of the sign-out
    first.start()
    assert status(site.holding(copied), first) != SIGNED_IN  # (never synced: it fails closed)

    site.redis.start()  # the restarted instance replays its journal into Redis
    assert wait_for(lambda: status(site.holding(copied), second) == ANONYMOUS), second.log_text()
    assert wait_for(lambda: status(site.holding(copied), first) == ANONYMOUS), first.log_text()
    late = site.instance("c")
    assert wait_for(lambda: status(site.holding(copied), late) == ANONYMOUS), late.log_text()


def test_redis_restarted_empty_loses_no_revocation(site: Site) -> None:
    first, second = site.instance("a"), site.instance("b")
    revoked = site.sign_in(site.browser(), first)
    copied = cookie_of(revoked)
    phone = site.sign_in(site.browser(), second)
    laptop = cookie_of(site.sign_in(site.browser(), second))  # the same user, another device
    site.sign_out(revoked, sign_out_form(revoked, first), via=first, back=first)
    site.sign_out(phone, sign_out_form(phone, second, everywhere=True), via=second, back=second)
    for cookie, elsewhere in ((copied, second), (laptop, first)):
        assert wait_for(lambda c=cookie, i=elsewhere: status(site.holding(c), i) == ANONYMOUS)

    site.redis.stop()
    site.redis.start()  # empty: nothing was persisted
    late = site.instance("c")  # knows only what Redis holds, once the others have repaired it
    for cookie in (copied, laptop):
        assert wait_for(lambda c=cookie: status(site.holding(c), late) == ANONYMOUS), (
            late.log_text()
        )
        assert status(site.holding(cookie), first) == ANONYMOUS
        assert status(site.holding(cookie), second) == ANONYMOUS
    other = site.sign_in(site.browser(), late)  # the site still works for everyone else
    assert status(other, first) == SIGNED_IN


def test_a_stale_tabs_sign_out_everywhere_signs_out_the_other_device(site: Site) -> None:
    idle = 4  # renewed every second: slack for a loaded machine
    timeouts = {"loginsite.session.idle_timeout": str(idle)}
    first, second = site.instance("a", **timeouts), site.instance("b", **timeouts)
    tab = site.sign_in(site.browser(), first)
    form = sign_out_form(tab, first, everywhere=True)  # the page stays open in the tab
    other_device = site.sign_in(site.browser(), second)

    # The tab sits idle past the idle timeout; the other device keeps its session alive.
    until = time.monotonic() + idle + 2
    while time.monotonic() < until:
        assert status(other_device, second) == SIGNED_IN
        time.sleep(0.3)
    assert status(site.holding(cookie_of(tab)), first) == ANONYMOUS, "the tab must be idle-expired"

    page = site.sign_out(tab, form, via=first, back=first)
    assert "Every session of your account has ended" in page
    assert wait_for(lambda: status(other_device, second) == ANONYMOUS), second.log_text()


def test_an_outage_shorter_than_max_staleness_costs_signed_in_users_nothing(site: Site) -> None:
    first, second = site.instance("a"), site.instance("b")
    users = [site.sign_in(site.browser(), first), site.sign_in(site.browser(), second)]
    answers: list[int] = []

    def browse(seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            answers.extend(status(user, instance) for user in users for instance in (first, second))

    browse(1)
    site.redis.stop()
    browse(5)  # well within max_staleness (30 s)
    site.redis.start()
    browse(3)
    assert answers.count(SIGNED_IN) == len(answers), sorted(set(answers))
    # And the sync is back: a sign-out now reaches the other instance.
    copied = cookie_of(users[0])
    site.sign_out(users[0], sign_out_form(users[0], first), via=first, back=first)
    assert wait_for(lambda: status(site.holding(copied), second) == ANONYMOUS)


def test_an_outage_longer_than_max_staleness_fails_closed_then_recovers(site: Site) -> None:
    staleness = 6.0
    short = {"loginsite.revocation.max_staleness": str(staleness)}
    instances = [site.instance("a", **short), site.instance("b", **short)]
    user = site.sign_in(site.browser(), instances[0])
    cookie = cookie_of(user)

    stopped = time.monotonic()
    site.redis.stop()
    assert status(user, instances[1]) == SIGNED_IN  # the last synced list is trusted a while
    for instance in instances:
        assert wait_for(lambda i=instance: status(user, i) == UNVERIFIABLE), instance.log_text()
    # ... for max_staleness after the last contact (a heartbeat; generous for a loaded machine).
    assert time.monotonic() - stopped >= staleness - 3
    for instance in instances:
        page = user.get(instance, "/account")
        assert page.status_code == UNVERIFIABLE
        assert "We cannot confirm your session right now" in page.text
        assert COOKIE not in page.headers.get("Set-Cookie", "")  # the cookie is kept
    assert cookie_of(user) == cookie

    site.redis.start()
    for instance in instances:
        assert wait_for(lambda i=instance: status(user, i) == SIGNED_IN), instance.log_text()
