"""The U.S. Web Design System the pages use: which release, where its files live, are they there.

USWDS is not committed: ``loginsite-assets`` (run by ``make run`` and ``make test``) downloads
the pinned npm tarball of ``@uswds/uswds``, checks its integrity, and unpacks its precompiled
``dist`` files into the git-ignored ``loginsite/static/uswds/``. The app refuses to start
without them, rather than serve unstyled pages with a broken government banner.
"""

from __future__ import annotations

from pathlib import Path

#: The release served, and the npm registry's ``dist.integrity`` of its tarball.
VERSION = "3.14.0"
INTEGRITY = (
    "sha512-"
    "kwZ50TqGszxj3+MQhm+c84hI0y8rIKoc7ZLKbuHg+8rTkFisp9lXOMRD2wclyyuYZahpADxMvaPong7bwL7cew=="
)
TARBALL_URL = f"https://registry.npmjs.org/@uswds/uswds/-/uswds-{VERSION}.tgz"

#: The folders of the tarball's ``package/dist/`` that are unpacked.
DIST_FOLDERS = ("css", "js", "fonts", "img")

ASSETS_DIR = Path(__file__).resolve().parent.parent / "static" / "uswds"
#: Written last by ``loginsite-assets``: the version and integrity of what was unpacked.
STAMP = ".installed"

#: What the layout links to; each must be there for the pages to work.
REQUIRED_FILES = (
    "css/uswds.min.css",
    "js/uswds-init.min.js",
    "js/uswds.min.js",
    "fonts/public-sans/PublicSans-Regular.woff2",
    "fonts/public-sans/PublicSans-Bold.woff2",
    "img/us_flag_small.png",
    "img/icon-dot-gov.svg",
    "img/icon-https.svg",
    "img/usa-icons/info.svg",
    "img/favicons/favicon.ico",
)


class AssetsMissing(RuntimeError):
    """The USWDS files are not installed (or are another release): the message says what to run."""


def stamp_text() -> str:
    return f"@uswds/uswds {VERSION} {INTEGRITY}\n"


def missing_assets(directory: Path | None = None) -> list[str]:
    """What is wrong with ``directory`` (default: ``ASSETS_DIR``): nothing when the pinned
    release is there."""
    directory = ASSETS_DIR if directory is None else directory
    stamp = directory / STAMP
    if not stamp.is_file():
        return [f"{directory} has no USWDS {VERSION} installed"]
    if stamp.read_text(encoding="utf-8") != stamp_text():
        found = stamp.read_text(encoding="utf-8").split()[1:2] or ["an unknown release"]
        return [f"{directory} holds USWDS {found[0]}, not {VERSION}"]
    return [f"{directory / n} is missing" for n in REQUIRED_FILES if not (directory / n).is_file()]


def check_assets(directory: Path | None = None) -> None:
    """Raise :class:`AssetsMissing` naming the problem and the command that fixes it."""
    problems = missing_assets(directory)
    if problems:
        raise AssetsMissing(
            f"the USWDS {VERSION} files the pages need are not installed ({problems[0]}): "
            "run `loginsite-assets` (`make run` and `make test` run it)"
        )
