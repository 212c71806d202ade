"""The /auth/* views: Pyramid glue between the browser, the OIDC client and the session policy."""

from __future__ import annotations

from loginsite.auth.views import includeme

__all__ = ["includeme"]
