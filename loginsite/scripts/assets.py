"""``loginsite-assets``: install the pinned USWDS release into ``loginsite/static/uswds/``.

Downloads ``@uswds/uswds`` from the npm registry (one request, with a timeout and a size cap),
checks the tarball against the integrity pinned in :mod:`loginsite.web.uswds` (the registry's
own ``sha512-...``, as ``package-lock.json`` would hold it), and unpacks the precompiled
``package/dist/{css,js,fonts,img}`` files. Nothing is run from the package and nothing needs
root. Once installed, running it again does nothing, so ``make run`` works offline afterwards;
``--tarball FILE`` installs from a tarball fetched elsewhere (checked just the same).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from loginsite.web import uswds

#: The tarball is about 9 MB; anything far larger is not the release pinned.
MAX_TARBALL_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT = 60.0
_CHUNK = 256 * 1024


class AssetsError(Exception):
    """Installing failed; the message says why and what to do."""


def integrity_of(data: bytes) -> str:
    """The Subresource Integrity form npm uses: ``sha512-`` and the base64 digest."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def download(url: str, timeout: float) -> bytes:
    """GET ``url``: ``timeout`` bounds connecting and each read, and the whole download."""
    if not url.startswith(("https://", "http://")):
        raise AssetsError(f"--url must be an http(s) URL, not {url!r}")
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"User-Agent": "loginsite-assets"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            chunks: list[bytes] = []
            size = 0
            while chunk := response.read(_CHUNK):
                size += len(chunk)
                if size > MAX_TARBALL_BYTES:
                    raise AssetsError(f"{url} is larger than {MAX_TARBALL_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise AssetsError(f"{url} took longer than {timeout:g} s to download")
                chunks.append(chunk)
    except urllib.error.HTTPError as exc:
        raise AssetsError(f"{url} answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AssetsError(f"could not download {url}: {reason}") from None
    return b"".join(chunks)


def unpack(data: bytes, destination: Path) -> int:
    """Unpack the dist folders of the verified tarball ``data`` into ``destination``.

    Only regular files under ``package/dist/<folder>/`` are taken, through tarfile's ``data``
    filter (no absolute paths, no ``..``, no links, no device files).
    """
    prefixes = tuple(f"package/dist/{folder}/" for folder in uswds.DIST_FOLDERS)
    count = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive:
                if not member.isfile() or not member.name.startswith(prefixes):
                    continue
                member.name = member.name.removeprefix("package/dist/")
                archive.extract(member, destination, filter="data")
                count += 1
    except tarfile.FilterError as exc:
        raise AssetsError(f"the tarball holds an unsafe entry: {exc}") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise AssetsError(f"the tarball cannot be read: {exc}") from None
    return count


def install(data: bytes, destination: Path) -> int:
    """Check ``data`` against the pinned integrity, then replace ``destination`` with its files.

    The files are unpacked next to ``destination`` and moved into place at the end, with the
    stamp written last, so an interrupted install is never taken for a complete one.
    """
    found = integrity_of(data)
    if found != uswds.INTEGRITY:
        raise AssetsError(
            f"the tarball's integrity is {found}, not the {uswds.INTEGRITY} pinned for "
            f"@uswds/uswds {uswds.VERSION}: refusing to install it"
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".uswds-", dir=destination.parent))
    try:
        count = unpack(data, staging)
        if count == 0:
            raise AssetsError("the tarball holds no package/dist files")
        if destination.exists():
            shutil.rmtree(destination)
        staging.rename(destination)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    (destination / uswds.STAMP).write_text(uswds.stamp_text(), encoding="utf-8")
    problems = uswds.missing_assets(destination)
    if problems:
        raise AssetsError(f"the release does not hold what the pages need: {problems[0]}")
    return count


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="loginsite-assets",
        description=f"Install USWDS {uswds.VERSION} (@uswds/uswds from npm) for the pages.",
    )
    parser.add_argument("--url", default=uswds.TARBALL_URL, help="where to download the tarball")
    parser.add_argument("--tarball", type=Path, help="install from this file instead")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds for the download"
    )
    parser.add_argument("--dest", type=Path, default=uswds.ASSETS_DIR, help=argparse.SUPPRESS)
    parser.add_argument(
        "--force", action="store_true", help="reinstall even if the release is there"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.force and not uswds.missing_assets(args.dest):
        print(f"exists   {args.dest} (USWDS {uswds.VERSION})")
        return 0
    try:
        if args.tarball is not None:
            try:
                data = args.tarball.read_bytes()
            except OSError as exc:
                raise AssetsError(f"cannot read {args.tarball}: {exc.strerror or exc}") from None
        else:
            data = download(args.url, args.timeout)
        count = install(data, args.dest)
    except AssetsError as exc:
        print(f"loginsite-assets: {exc}", file=sys.stderr)
        if args.tarball is None:
            print(
                f"loginsite-assets: without network access, fetch {uswds.TARBALL_URL} "
                "elsewhere and run `loginsite-assets --tarball FILE`",
                file=sys.stderr,
            )
        return 1
    print(f"created  {args.dest} (USWDS {uswds.VERSION}, {count} files)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
