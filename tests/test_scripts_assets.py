"""loginsite-assets: the pinned USWDS tarball over real HTTP, checked, unpacked; the app's check."""

from __future__ import annotations

import io
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from loginsite.scripts import assets
from loginsite.web import uswds


def make_tarball(extra: dict[str, bytes] | None = None) -> bytes:
    """A small stand-in for the npm tarball: the files the pages need, and some that are not."""
    files = {f"package/dist/{name}": b"x" for name in uswds.REQUIRED_FILES}
    files["package/dist/scss/_ignored.scss"] = b"not unpacked"
    files["package/package.json"] = b"{}"
    files.update(extra or {})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def tarball(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """The stand-in tarball, pinned as if it were the release (its integrity)."""
    data = make_tarball()
    monkeypatch.setattr(uswds, "INTEGRITY", assets.integrity_of(data))
    return data


@pytest.fixture
def registry() -> Iterator[Callable[..., str]]:
    """Serve bytes over real HTTP on 127.0.0.1; ``serve(body, delay=s)`` returns the URL."""
    servers: list[ThreadingHTTPServer] = []

    def serve(body: bytes, *, status: int = 200, delay: float = 0.0) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/@uswds/uswds/-/uswds.tgz"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_pin_is_the_registry_form_of_a_sha512() -> None:
    assert uswds.VERSION.startswith("3.")
    assert uswds.INTEGRITY.startswith("sha512-")
    assert len(uswds.INTEGRITY) == len("sha512-") + 88  # base64 of 64 bytes
    expected = f"https://registry.npmjs.org/@uswds/uswds/-/uswds-{uswds.VERSION}.tgz"
    assert expected == uswds.TARBALL_URL


def test_downloads_checks_and_unpacks_the_dist_files(
    tarball: bytes, registry: Callable[..., str], tmp_path: Path, capsys: Any
) -> None:
    dest = tmp_path / "static" / "uswds"
    assert assets.main(["--url", registry(tarball), "--dest", str(dest)]) == 0
    assert uswds.missing_assets(dest) == []
    assert (dest / "css" / "uswds.min.css").read_bytes() == b"x"
    assert not (dest / "scss").exists()
    assert not (dest / "package.json").exists()
    assert "created" in capsys.readouterr().out
    uswds.check_assets(dest)  # the app starts


def test_a_second_run_needs_no_network(
    tarball: bytes, registry: Callable[..., str], tmp_path: Path, capsys: Any
) -> None:
    dest = tmp_path / "uswds"
    assert assets.main(["--url", registry(tarball), "--dest", str(dest)]) == 0
    # Nothing listens on port 9: a run that tried to download would fail.
    assert assets.main(["--url", "http://127.0.0.1:9/x.tgz", "--dest", str(dest)]) == 0
    assert "exists" in capsys.readouterr().out


def test_a_tarball_that_is_not_the_pinned_one_is_refused(
    tarball: bytes, registry: Callable[..., str], tmp_path: Path, capsys: Any
) -> None:
    dest = tmp_path / "uswds"
    tampered = make_tarball({"package/dist/js/uswds.min.js": b"alert('pwned')"})
    assert assets.main(["--url", registry(tampered), "--dest", str(dest)]) == 1
    err = capsys.readouterr().err
    assert "integrity" in err
    assert "refusing to install it" in err
    assert not dest.exists()


def test_an_unreachable_registry_says_what_to_do(tmp_path: Path, capsys: Any) -> None:
    dest = tmp_path / "uswds"
    assert assets.main(["--url", "http://127.0.0.1:9/x.tgz", "--dest", str(dest)]) == 1
    err = capsys.readouterr().err
    assert "could not download http://127.0.0.1:9/x.tgz" in err
    assert "--tarball FILE" in err


def test_a_registry_error_is_reported(registry: Callable[..., str], tmp_path: Path, capsys: Any):
    assert assets.main(["--url", registry(b"gone", status=404), "--dest", str(tmp_path)]) == 1
    assert "answered 404" in capsys.readouterr().err


def test_a_registry_that_does_not_answer_times_out(
    tarball: bytes, registry: Callable[..., str], tmp_path: Path, capsys: Any
) -> None:
    url = registry(tarball, delay=3)
    assert assets.main(["--url", url, "--timeout", "0.5", "--dest", str(tmp_path / "u")]) == 1
    assert "could not download" in capsys.readouterr().err


def test_only_http_urls_are_fetched(tmp_path: Path, capsys: Any) -> None:
    assert assets.main(["--url", "file:///etc/passwd", "--dest", str(tmp_path / "u")]) == 1
    assert "must be an http(s) URL" in capsys.readouterr().err


def test_installs_offline_from_a_tarball_file(tarball: bytes, tmp_path: Path) -> None:
    path = tmp_path / "uswds.tgz"
    path.write_bytes(tarball)
    dest = tmp_path / "uswds"
    assert assets.main(["--tarball", str(path), "--dest", str(dest)]) == 0
    assert uswds.missing_assets(dest) == []


def test_paths_that_leave_the_folder_are_not_unpacked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = make_tarball({"package/dist/css/../../../escaped.txt": b"no"})
    monkeypatch.setattr(uswds, "INTEGRITY", assets.integrity_of(data))
    dest = tmp_path / "a" / "uswds"
    with pytest.raises(assets.AssetsError, match="unsafe entry"):
        assets.install(data, dest)
    assert not (tmp_path / "escaped.txt").exists()
    assert not dest.exists()


def test_another_release_or_a_partial_install_is_not_taken_for_the_pinned_one(
    tarball: bytes, tmp_path: Path
) -> None:
    dest = tmp_path / "uswds"
    assets.install(tarball, dest)
    (dest / "js" / "uswds.min.js").unlink()
    assert uswds.missing_assets(dest) == [f"{dest / 'js/uswds.min.js'} is missing"]
    (dest / uswds.STAMP).write_text("@uswds/uswds 3.8.0 sha512-old\n")
    assert uswds.missing_assets(dest) == [f"{dest} holds USWDS 3.8.0, not {uswds.VERSION}"]


def test_the_app_refuses_to_start_without_the_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make_app: Callable[..., Any]
) -> None:
    monkeypatch.setattr(uswds, "ASSETS_DIR", tmp_path / "nothing-here")
    with pytest.raises(uswds.AssetsMissing, match="run `loginsite-assets`"):
        make_app()


def test_pserve_gets_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings: dict[str, str]
) -> None:
    from loginsite import paste_app

    monkeypatch.setattr(uswds, "ASSETS_DIR", tmp_path / "nothing-here")
    with pytest.raises(SystemExit) as exit_info:
        paste_app({}, **settings)
    message = str(exit_info.value)
    assert message.startswith("loginsite: the USWDS ")
    assert "\n" not in message
