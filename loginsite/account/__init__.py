"""Pages of the signed-in user: home, account, the identity-verified area."""

from __future__ import annotations

from loginsite.account.views import includeme

__all__ = ["includeme"]
