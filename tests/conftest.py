"""Shared fixtures; feature-specific fixtures live in tests/plugins/."""

from __future__ import annotations

pytest_plugins: list[str] = [
    "tests.plugins.oidc_provider",
    "tests.plugins.redis_server",
]
