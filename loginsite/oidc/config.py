"""The relying party's configuration: one typed value, owned here, built by ``loginsite.settings``.

``oidc`` knows nothing of INI files or environment variables; ``settings.py`` parses and
validates ``loginsite.idp.*`` (naming the setting in every error) and hands over this object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# How many provider calls may be in flight per process by default (half of production.ini's
# eight waitress threads): kept here, where the settings and the transport both find it.
MAX_CONCURRENT_CALLS = 4

__all__ = ["ACR_AUTH_ONLY", "ACR_VERIFIED", "LOCALES", "SERVICE_LEVELS", "ClientConfig"]

# login.gov's two service levels (its acr values) and the locales its pages speak.
ACR_AUTH_ONLY = "urn:acr.login.gov:auth-only"
ACR_VERIFIED = "urn:acr.login.gov:verified"
SERVICE_LEVELS = (ACR_AUTH_ONLY, ACR_VERIFIED)
LOCALES = ("en", "es", "fr", "zh")


@dataclass(frozen=True)
class ClientConfig:
    """This client's registration with the provider, and how patiently to talk to it."""

    issuer: str
    client_id: str
    private_key_pem: bytes = field(repr=False)
    redirect_uri: str
    post_logout_redirect_uri: str
    scope: tuple[str, ...] = ("openid", "email")
    acr_values: tuple[str, ...] = (ACR_AUTH_ONLY,)
    prompt: str = "select_account"
    locale: str | None = None
    timeout: float = 5.0
    metadata_ttl: int = 3600
    leeway: int = 30
    allow_http: bool = False
    #: provider calls in flight at once; more are refused at once (keeps threads free)
    max_concurrent_calls: int = MAX_CONCURRENT_CALLS
    #: the certificate registered with login.gov (only ``loginsite-check`` reads it)
    certificate_path: Path | None = None

    @property
    def service_level(self) -> str:
        """The one login.gov service level among ``acr_values``."""
        return next(v for v in self.acr_values if v in SERVICE_LEVELS)
