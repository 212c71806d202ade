"""A real browser for the end-to-end tests: Playwright driving Debian's Chromium.

The machines that run the tests cannot download Playwright's own browsers, so this drives
``/usr/bin/chromium`` (``apt-get install chromium``; ``scripts/install-system-deps`` does it) and
never calls ``playwright install``. One browser per test session (per xdist worker), a fresh
context and page per test, and the app with the development provider on its own port per test.

Helpers: ``axe_check(page, label)`` runs axe-core (``npm install`` puts it in node_modules) in
the page and fails on serious or critical violations; ``screenshot(page, name)`` saves a PNG
under ``test-output/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.clock import FakeClock

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE_JS = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO_ROOT / "test-output" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
VIEWPORT = {"width": 1024, "height": 768}
# Playwright's default is 30 s; everything here is loopback, so anything slower is a hang.
TIMEOUT_MS = 10_000
FAILING_IMPACTS = ("serious", "critical")


def _require(path: Path, how: str) -> None:
    if not path.is_file():
        pytest.fail(f"the browser tests need {path}, which is missing: {how}", pytrace=False)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    _require(CHROMIUM, "install Debian's Chromium (`apt-get install chromium`, or `make test`)")
    _require(AXE_JS, "run `npm install` at the repository root (or `make test`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class ConsoleLog:
    """Console messages and uncaught errors of every page in a context."""

    messages: list[str] = field(default_factory=list)

    def attach(self, context: Any) -> None:
        context.on("console", lambda msg: self.messages.append(f"{msg.type}: {msg.text}"))
        context.on("weberror", lambda err: self.messages.append(f"pageerror: {err.error}"))

    def csp_violations(self) -> list[str]:
        return [m for m in self.messages if "Content Security Policy" in m]


@pytest.fixture
def new_context(chromium: Any, live_server: Any) -> Iterator[Callable[..., Any]]:
    """Open more contexts (e.g. with JavaScript off); all are closed after the test.

    It depends on ``live_server`` only so that it is torn down first: the browser's
    keep-alive connections close before the servers stop, instead of holding them open.
    """
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        context = chromium.new_context(**{"viewport": VIEWPORT, **options})
        context.set_default_timeout(TIMEOUT_MS)
        context.console_log = ConsoleLog()
        context.console_log.attach(context)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def context(new_context: Callable[..., Any]) -> Any:
    """A fresh browser profile (cookies, storage) for one test; the app's CSP is enforced."""
    return new_context()


@pytest.fixture
def console(context: Any) -> ConsoleLog:
    return context.console_log


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


_axe_source: str | None = None


def _axe() -> str:
    global _axe_source
    if _axe_source is None:
        _require(AXE_JS, "run `npm install` at the repository root (or `make test`)")
        _axe_source = AXE_JS.read_text(encoding="utf-8")
    return _axe_source


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Run axe-core in ``page`` (WCAG 2.x A/AA and best practices); return its violations.

    The script is evaluated through the DevTools protocol, which the page's CSP does not
    govern, so the pages keep their real policy (no inline script) while they are checked.
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe() + "\n;void 0")
    return page.evaluate(
        """async () => {
            const results = await window.axe.run(document, {
                runOnly: {type: 'tag', values: [
                    'wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']},
                resultTypes: ['violations'],
            });
            return results.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({target: n.target, summary: n.failureSummary})),
            }));
        }"""
    )


def format_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            summary = re.sub(r"\s+", " ", node["summary"] or "")
            lines.append(f"    at {json.dumps(node['target'])}: {summary}")
    return "\n".join(lines)


def axe_check(page: Any, label: str | None = None) -> list[dict[str, Any]]:
    """Fail on serious or critical accessibility violations; return the minor ones."""
    violations = axe_violations(page)
    failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    if failing:
        where = label or page.url
        pytest.fail(
            f"axe-core found {len(failing)} serious/critical accessibility problem(s) on "
            f"{where} ({page.url}):\n{format_violations(failing)}",
            pytrace=False,
        )
    return violations


def screenshot(page: Any, name: str) -> Path:
    """Save the whole page as test-output/screenshots/<name>.png (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@dataclass
class LiveApp:
    url: str
    app: Any

    def __call__(self, path: str = "/") -> str:
        return self.url + path

    @property
    def policy(self) -> Any:
        from pyramid.interfaces import ISecurityPolicy

        return self.app.registry.getUtility(ISecurityPolicy)

    def use_fake_clock(self) -> FakeClock:
        """Put the session policy on a clock the test controls (mint, verify, renew)."""
        clock = FakeClock()
        self.policy.codec.clock = clock
        return clock


@pytest.fixture
def live_devidp_app(
    live_server: Callable[[], Any], make_app: Callable[..., Any], tmp_path: Path
) -> Callable[..., LiveApp]:
    """Build and serve the app with the development provider; call it with setting overrides.

    ``live_server`` stops every server it made, open keep-alive connections included.
    """

    def start(**overrides: str) -> LiveApp:
        server = live_server()
        app = make_app(
            **{
                "loginsite.public_url": server.url,
                "loginsite.idp.issuer": server.url + "/_devidp/",
                "pyramid.includes": "loginsite.devidp",
                "loginsite.devidp.data_dir": str(tmp_path / "devidp"),
                **overrides,
            }
        )
        server.start(app)
        return LiveApp(server.url, app)

    return start
