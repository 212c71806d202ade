"""The one way the console scripts read their INI file: the app section, as ``pserve`` reads it.

``%(here)s`` and the other PasteDeploy defaults are interpolated the same way, so a path in the
file means for a script what it means for the running app. The ``LOGINSITE_*`` environment
variables are applied later, by :mod:`loginsite.settings`, exactly as in the app.
"""

from __future__ import annotations

import configparser


class ConfigFileError(Exception):
    """The INI file cannot be read; the message says which file and why."""


def load_ini(config_uri: str, name: str = "main") -> dict[str, str]:
    """The ``[app:NAME]`` settings of ``config_uri``, or ConfigFileError."""
    from pyramid.paster import get_appsettings

    try:
        return dict(get_appsettings(config_uri, name=name))
    except FileNotFoundError:
        raise ConfigFileError(f"cannot read {config_uri}: no such file") from None
    except OSError as exc:
        raise ConfigFileError(f"cannot read {config_uri}: {exc.strerror or exc}") from None
    except (LookupError, ValueError, ImportError, configparser.Error) as exc:
        # A file that is not INI, has no [app:NAME] section, or names an unknown egg.
        reason = " ".join(str(exc).split())[:300]
        raise ConfigFileError(f"cannot load [app:{name}] from {config_uri}: {reason}") from None
