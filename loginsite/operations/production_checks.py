"""What a production deployment must not run with; ``loginsite-check`` fails on each, and the
app logs a WARNING for each at start-up.

- a revocation store that is not shared (``memory``: each instance has its own list, lost on
  restart; ``none``: sign-out ends nothing), unless ``loginsite.revocation.accept_unshared`` says
  that risk is accepted (one instance, say);
- ``loginsite.session.secure = false`` (no Secure flag, no ``__Host-`` prefix, no HSTS);
- session lifetimes beyond NIST SP 800-63B's AAL2 bounds: reauthentication within 12 hours,
  an idle timeout of at most an hour;
- a Redis reached over the network without a password: anyone who can reach it can unrevoke a
  session, or fill the list.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from loginsite.settings import AppSettings, RevocationSettings

MAX_SESSION_AGE = 12 * 3600
MAX_IDLE_TIMEOUT = 3600


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def redis_risks(revocation: RevocationSettings) -> list[str]:
    problems = []
    password = revocation.redis_password
    url = revocation.redis_url
    if url is not None:
        parts = urlsplit(url)
        remote = parts.scheme != "unix" and not is_loopback(parts.hostname)
        if remote and not (parts.password or password):
            problems.append(
                f"loginsite.revocation.redis_url points at {parts.hostname} without a "
                "password: set one in the URL (redis://:PASSWORD@host/0, from the "
                "environment) or in loginsite.revocation.redis_password"
            )
    remote = [host for host, _ in revocation.sentinels if not is_loopback(host)]
    if remote and not revocation.sentinel_password:
        problems.append(
            f"loginsite.revocation.sentinels ({', '.join(remote)}) have no "
            "loginsite.revocation.sentinel_password"
        )
    if remote and not password:
        problems.append("the Sentinel-managed Redis has no loginsite.revocation.redis_password")
    return problems


def production_risks(settings: AppSettings) -> list[str]:
    """Each risk as one sentence naming the setting; empty outside production."""
    if settings.environment != "production":
        return []
    problems = []
    store = settings.revocation.store
    if store != "redis" and not settings.operations.accept_unshared_revocation:
        what = "revokes nothing" if store == "none" else "is not shared between instances"
        problems.append(
            f"loginsite.revocation.store = {store} {what}: use redis, or set "
            "loginsite.revocation.accept_unshared = true to accept that risk"
        )
    session = settings.session
    if not session.secure:
        problems.append("loginsite.session.secure must be true (Secure, __Host- cookies, HSTS)")
    if session.max_age > MAX_SESSION_AGE:
        problems.append(
            f"loginsite.session.max_age = {session.max_age} is beyond {MAX_SESSION_AGE} s "
            "(12 hours, NIST SP 800-63B AAL2 reauthentication)"
        )
    if session.idle_timeout > MAX_IDLE_TIMEOUT:
        problems.append(
            f"loginsite.session.idle_timeout = {session.idle_timeout} is beyond "
            f"{MAX_IDLE_TIMEOUT} s (an hour)"
        )
    if store == "redis":
        problems.extend(redis_risks(settings.revocation))
    return problems
