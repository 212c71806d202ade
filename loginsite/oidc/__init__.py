"""Signing in with login.gov over OpenID Connect, independent of any web framework.

The web glue builds one :class:`OIDCClient` from the :class:`ClientConfig` that
``loginsite.settings`` parsed, at start-up, keeps the
pending sign-ins in a :class:`TransactionJar` cookie and turns :class:`OIDCError` subclasses into
pages (``status``, and ``code`` for the words, which are the web layer's; ``reason`` goes to
the log). Nothing here is in a person's language.
"""

from __future__ import annotations

from .client import CLIENT_ASSERTION_TYPE, OIDCClient, SignIn
from .config import ClientConfig
from .errors import (
    AuthorizationDenied,
    InvalidCallback,
    InvalidIdToken,
    InvalidUserinfo,
    OIDCError,
    ProviderBusy,
    ProviderError,
    ProviderRefused,
    ProviderTimeout,
    ProviderUnavailable,
)
from .jwks import ProviderKeys
from .metadata import ProviderMetadata, ProviderMetadataCache, discovery_url
from .transaction import LoginTransaction, TransactionJar, sanitize_next

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "AuthorizationDenied",
    "ClientConfig",
    "InvalidCallback",
    "InvalidIdToken",
    "InvalidUserinfo",
    "LoginTransaction",
    "OIDCClient",
    "OIDCError",
    "ProviderBusy",
    "ProviderError",
    "ProviderKeys",
    "ProviderMetadata",
    "ProviderMetadataCache",
    "ProviderRefused",
    "ProviderTimeout",
    "ProviderUnavailable",
    "SignIn",
    "TransactionJar",
    "discovery_url",
    "sanitize_next",
]
