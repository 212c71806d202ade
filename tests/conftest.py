"""Shared fixtures: test keys, settings, the app through WebTest; more in tests/plugins/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import webtest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from tests.plugins.session_keys import SECRET_1, SECRET_2

pytest_plugins: list[str] = [
    "tests.plugins.oidc_provider",
    "tests.plugins.live_server",
    "tests.plugins.redis_server",
    "tests.plugins.browser",
    "tests.plugins.app_instances",
]

# Property-based tests (tests/test_fuzz.py). ``ci``, the default: derandomized (the same draws
# every run), a small budget, no example database written to the worktree. ``release``: a long
# random campaign, run with ``--hypothesis-profile=release`` before a release.
_SLOW_DRAWS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
hypothesis_settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=40,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=_SLOW_DRAWS,
)
hypothesis_settings.register_profile(
    "release", max_examples=3000, deadline=None, suppress_health_check=_SLOW_DRAWS
)
hypothesis_settings.load_profile("ci")

CLIENT_ID = "urn:gov:gsa:openidconnect.profiles:sp:sso:test:loginsite"


@pytest.fixture(scope="session")
def client_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def client_key_file(client_private_key: rsa.RSAPrivateKey, tmp_path_factory: Any) -> Path:
    path = tmp_path_factory.mktemp("client-key") / "client-private.pem"
    path.write_bytes(
        client_private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture(scope="session")
def session_keys() -> str:
    return f"k2:{SECRET_1} k1:{SECRET_2}:verify"


@pytest.fixture
def settings(client_key_file: Path, session_keys: str, tmp_path: Path) -> dict[str, str]:
    """A complete, valid development configuration; tests override what they exercise."""
    return {
        "loginsite.environment": "development",
        "loginsite.public_url": "http://localhost:6543",
        "loginsite.session.keys": session_keys,
        "loginsite.session.secure": "false",
        "loginsite.revocation.store": "memory",
        # Used by the redis store: every test gets its own durable journal.
        "loginsite.revocation.journal": str(tmp_path / "revocation-journal.sqlite3"),
        # Nothing listens on port 9: tests that need a provider point this at a live one.
        "loginsite.idp.issuer": "http://127.0.0.1:9/",
        "loginsite.idp.client_id": CLIENT_ID,
        "loginsite.idp.private_key": str(client_key_file),
        "loginsite.idp.allow_http": "true",
        "loginsite.idp.timeout": "2",
    }


@pytest.fixture
def make_app(settings: dict[str, str]) -> Callable[..., Any]:
    """Build the real WSGI app from ``settings`` plus overrides."""
    from loginsite import main

    def make(**overrides: str) -> Any:
        return main({}, **{**settings, **overrides})

    return make


@pytest.fixture
def testapp(make_app: Callable[..., Any]) -> webtest.TestApp:
    return webtest.TestApp(make_app(), extra_environ={"HTTP_HOST": "localhost:6543"})


@pytest.fixture
def sign_in(testapp: webtest.TestApp) -> Callable[..., str]:
    """Put a session cookie in ``testapp`` as the policy's remember() would after sign-in."""
    from pyramid.interfaces import ISecurityPolicy

    policy = testapp.app.registry.getUtility(ISecurityPolicy)

    def sign_in(
        sub: str = "6f1c1b52-8a6e-4d0b-9a53-2b6f7d3c2e11",
        email: str | None = "alice@example.gov",
        acr: str = "urn:acr.login.gov:auth-only",
    ) -> str:
        value, _ = policy.codec.mint(sub, email=email, acr=acr)
        testapp.set_cookie(policy.cookie_name, value)
        return value

    return sign_in


@pytest.fixture
def live_site(live_devidp_app: Callable[..., Any]) -> Any:
    """The app and its development provider, served over real HTTP on a free port."""
    return live_devidp_app()


@pytest.fixture
def live_session_cookie(live_site: Any) -> str:
    """``name=value`` of a fresh session on ``live_site``, as its policy would mint it."""
    policy = live_site.policy
    value, _ = policy.codec.mint(
        "6f1c1b52-8a6e-4d0b-9a53-2b6f7d3c2e11",
        email="alice@example.gov",
        acr="urn:acr.login.gov:auth-only",
    )
    return f"{policy.cookie_name}={value}"
