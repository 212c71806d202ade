"""The server ``pserve`` runs (``use = egg:loginsite#waitress``): waitress, with one-line errors.

Plain ``egg:waitress#main`` answers a busy port with a 30-line ``OSError`` traceback. This
runner says what is wrong in one line. In development it listens where ``loginsite.public_url``
points unless ``listen`` is set, and refuses a ``listen`` whose port differs from it: every
redirect (and the development provider's issuer) is built from ``public_url``, so such a server
would send sign-in to a URL where nothing listens.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Any, NoReturn
from urllib.parse import urlsplit

import waitress

from loginsite.settings import SETTINGS_KEY, AppSettings

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


def listen_ports(kw: dict[str, Any]) -> set[int]:
    """The ports of waitress's ``listen`` (``host:port ...``) or ``host``/``port`` settings."""
    listen = kw.get("listen")
    if not listen:
        return {int(kw.get("port", 8080))}
    ports = set()
    for address in str(listen).split():
        _, _, port = address.rpartition(":")
        if port.isdigit():
            ports.add(int(port))
    return ports


def port_mismatch(settings: AppSettings, kw: dict[str, Any]) -> str | None:
    """Why this development server's ``listen`` cannot match its ``public_url``, or None."""
    if settings.environment != "development":
        return None  # behind a proxy the public port and the listening port differ on purpose
    public = urlsplit(settings.public_url)
    if public.hostname not in LOOPBACK_HOSTS:
        return None
    public_port = public.port or (443 if public.scheme == "https" else 80)
    ports = listen_ports(kw)
    if public_port in ports:
        return None
    return (
        f"[server:main] listen = {kw.get('listen')} does not serve loginsite.public_url = "
        f"{settings.public_url} (port {public_port}), which every redirect and "
        f"loginsite.idp.issuer ({settings.idp.issuer}) are built from. Set the port in one "
        "place, loginsite.public_url, and leave listen unset: `make run PORT=7000` does that."
    )


def serve(app: Any, global_conf: dict[str, Any] | None, **kw: Any) -> int:
    """``paste.server_runner``: check the addresses, then ``waitress.serve``."""
    registry = getattr(app, "registry", None)
    settings: AppSettings | None = registry.get(SETTINGS_KEY) if registry is not None else None
    if settings is not None and settings.environment == "development":
        if not (kw.get("listen") or kw.get("host") or kw.get("port")):
            kw["listen"] = urlsplit(settings.public_url).netloc
        if problem := port_mismatch(settings, kw):
            fail(problem)
    try:
        waitress.serve(app, **kw)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        where = kw.get("listen") or f"{kw.get('host', '0.0.0.0')}:{kw.get('port', 8080)}"  # noqa: S104
        fail(
            f"cannot listen on {where}: the address is already in use. Stop the other server "
            "on that port, or choose another: `make run PORT=7000`."
        )
    return 0


def fail(problem: str) -> NoReturn:
    """Say what is wrong in one line and exit 1.

    Not ``SystemExit``: pserve turns one raised by a server into "Exiting ..." and exit status
    0, which would hide the failure from make, systemd and CI. Nothing has been served yet.
    """
    sys.stderr.write(f"loginsite: {problem}\n")
    sys.stderr.flush()
    os._exit(1)
