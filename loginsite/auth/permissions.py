"""The two things a page can demand of its visitor, as Pyramid permissions and principals.

- ``permission="loginsite.signed_in"`` (:data:`SIGNED_IN`): any signed-in user;
- ``permission="loginsite.verified"`` (:data:`VERIFIED`): a user whose identity login.gov
  verified (IAL2, acr ``urn:acr.login.gov:verified``).

The session security policy grants them by itself, whatever the context, so they work on any
route of a URL-dispatch app and any resource of a traversal app. An anonymous visitor denied
either is sent to sign in; a signed-in user denied :data:`VERIFIED` is sent to verify their
identity (a step-up), see :mod:`loginsite.auth.forbidden`.

A traversal app that prefers its own ACLs uses the principals: :data:`SIGNED_IN_PRINCIPAL`
(Pyramid's ``Authenticated``) and :data:`VERIFIED_PRINCIPAL`; a resource whose ACL demands the
latter sets ``required_acr = ACR_VERIFIED`` so that the forbidden view steps up. :data:`ACL`
holds ready entries granting the two permissions to the two principals.
"""

from __future__ import annotations

from loginsite.session.policy import LOGINSITE_ACL as ACL
from loginsite.session.policy import (
    SIGNED_IN,
    SIGNED_IN_PRINCIPAL,
    VERIFIED,
    VERIFIED_PRINCIPAL,
)

__all__ = ["ACL", "SIGNED_IN", "SIGNED_IN_PRINCIPAL", "VERIFIED", "VERIFIED_PRINCIPAL"]
