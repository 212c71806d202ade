"""Log lines: the request id on every line through the filter, one access-log line per request,
production.ini's JSON lines and development.ini's text, and no personal data or secrets."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import webtest

from loginsite.operations.logs import RequestIdFilter, RequestIdStreamHandler
from loginsite.operations.request_log import logged_path

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def ini_logging(request: pytest.FixtureRequest) -> Iterator[Callable[[str], io.StringIO]]:
    """Apply an INI file's logging config with its console handler writing to a buffer; put
    the logging module back as it was afterwards (the audit logger's own sink included)."""
    root = logging.getLogger()
    saved_handlers = root.handlers[:]
    names = ("", "loginsite", "loginsite.access", "loginsite.audit")
    saved = {
        name: (logging.getLogger(name).level, logging.getLogger(name).propagate) for name in names
    }
    audit_logger = logging.getLogger("loginsite.audit")
    saved_audit_handlers = audit_logger.handlers[:]

    def configure(name: str) -> io.StringIO:
        logging.config.fileConfig(
            ROOT / name,
            {"__file__": str(ROOT / name), "here": str(ROOT)},
            disable_existing_loggers=False,
        )
        (handler,) = [h for h in root.handlers if isinstance(h, RequestIdStreamHandler)]
        buffer = io.StringIO()
        handler.setStream(buffer)
        return buffer

    yield configure
    for handler in root.handlers[:]:
        if handler not in saved_handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in audit_logger.handlers[:]:
        if handler not in saved_audit_handlers:
            audit_logger.removeHandler(handler)
            handler.close()
    for name, (level, propagate) in saved.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).propagate = propagate
    for handler in saved_handlers:
        if handler not in root.handlers:
            root.addHandler(handler)


def json_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line]


def test_production_ini_logs_json_lines_with_the_request_id(
    ini_logging: Callable[[str], io.StringIO], make_app: Callable[..., Any]
) -> None:
    app = webtest.TestApp(make_app(), extra_environ={"HTTP_HOST": "localhost:6543"})
    buffer = ini_logging("production.ini")
    response = app.get("/account/?code=SECRETCODE&state=STATE", status=303)
    request_id = response.headers["X-Request-Id"]
    lines = json_lines(buffer)
    (access,) = [line for line in lines if line["name"] == "loginsite.access"]
    assert access["levelname"] == "INFO"
    assert access["request_id"] == request_id
    assert access["method"] == "GET"
    assert access["path"] == "/account/"
    assert access["status"] == 303
    assert isinstance(access["duration_ms"], float)
    assert access["sub"] is None
    assert {"asctime", "message", "threadName"} <= set(access)
    assert "SECRETCODE" not in buffer.getvalue()
    assert "STATE" not in buffer.getvalue()


def test_every_line_logged_during_a_request_carries_its_id(
    ini_logging: Callable[[str], io.StringIO], make_app: Callable[..., Any]
) -> None:
    app = webtest.TestApp(make_app(), extra_environ={"HTTP_HOST": "localhost:6543"})
    buffer = ini_logging("production.ini")
    # A garbage session cookie: the policy logs a refusal line of its own.
    response = app.get("/", headers={"Cookie": "loginsite=garbage.garbage.garbage"})
    lines = json_lines(buffer)
    refused = [line for line in lines if line["message"].startswith("session.refused")]
    assert refused, lines
    assert {line["request_id"] for line in lines} == {response.headers["X-Request-Id"]}
    assert "garbage.garbage" not in buffer.getvalue()


def test_lines_outside_a_request_carry_a_dash(ini_logging: Callable[[str], io.StringIO]) -> None:
    buffer = ini_logging("production.ini")
    logging.getLogger("loginsite.startup").warning("hello %s", "there")
    (line,) = json_lines(buffer)
    assert line == {
        **line,
        "levelname": "WARNING",
        "name": "loginsite.startup",
        "message": "hello there",
        "request_id": "-",
    }


def test_development_ini_stays_readable_text(
    ini_logging: Callable[[str], io.StringIO], make_app: Callable[..., Any]
) -> None:
    app = webtest.TestApp(make_app(), extra_environ={"HTTP_HOST": "localhost:6543"})
    buffer = ini_logging("development.ini")
    response = app.get("/")
    (line,) = [x for x in buffer.getvalue().splitlines() if "[loginsite.access]" in x]
    assert not line.startswith("{")
    assert f"[{response.headers['X-Request-Id']}]" in line
    assert line.endswith("GET / 200 " + line.rsplit(" ", 2)[-2] + " sub=-")


def test_the_access_log_names_the_signed_in_sub_and_can_be_switched_off(
    make_app: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    from tests.test_operations_metrics import signed_in_cookie

    app = make_app()
    testapp = webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost:6543"})
    cookie, sub = signed_in_cookie(app)
    with caplog.at_level(logging.DEBUG, logger="loginsite.access"):
        testapp.get("/account/", headers={"Cookie": cookie}, status=200)
    (record,) = [r for r in caplog.records if r.name == "loginsite.access"]
    assert record.sub == sub
    assert record.status == 200
    assert f"sub={sub}" in record.getMessage()

    quiet = webtest.TestApp(
        make_app(**{"loginsite.access_log": "false"}), extra_environ={"HTTP_HOST": "localhost"}
    )
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="loginsite.access"):
        quiet.get("/")
    assert not [r for r in caplog.records if r.name == "loginsite.access"]


def test_answers_of_every_other_tween_are_logged_too(
    make_app: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The request tween is the outermost: the screening tween's refusals are logged as sent."""
    testapp = webtest.TestApp(make_app(), extra_environ={"HTTP_HOST": "localhost:6543"})
    with caplog.at_level(logging.INFO, logger="loginsite.access"):
        testapp.get("/", headers={"X-Big": "a" * 9000}, status=431)
        testapp.request("/", method="TRACE", status=405)
    statuses = [r.status for r in caplog.records if r.name == "loginsite.access"]
    assert statuses == [431, 405]


def test_health_checks_are_logged_at_debug_only(
    make_app: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    testapp = webtest.TestApp(make_app(), extra_environ={"HTTP_HOST": "localhost:6543"})
    caplog.clear()  # the start-up lines (the audit trail's session.key_ring)
    with caplog.at_level(logging.DEBUG, logger="loginsite"):
        testapp.get("/healthz")
        testapp.get("/readyz")
    records = [r for r in caplog.records if r.name.startswith("loginsite")]
    assert [r.path for r in records] == ["/healthz", "/readyz"]
    assert all(r.levelno == logging.DEBUG for r in records)


def test_an_error_below_every_view_is_logged_as_a_500(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tween logs what the client sees even when something raises past the views."""
    from loginsite.operations import request_log
    from loginsite.settings import SETTINGS_KEY

    statuses: list[int] = []
    monkeypatch.setattr(request_log, "log_access", lambda r, status, s: statuses.append(status))
    settings = SimpleNamespace(operations=SimpleNamespace(access_log=True))

    def handler(request: Any) -> Any:
        raise RuntimeError("boom")

    tween = request_log.request_tween_factory(handler, {SETTINGS_KEY: settings})
    with pytest.raises(RuntimeError):
        tween(SimpleNamespace(environ={}))
    assert statuses == [500]


def test_the_filter_keeps_an_id_given_by_the_caller() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.request_id = "given"
    assert RequestIdFilter().filter(record)
    assert record.request_id == "given"


@pytest.mark.parametrize(
    ("environ", "logged"),
    [
        ({"PATH_INFO": "/auth/callback"}, "/auth/callback"),
        ({"SCRIPT_NAME": "/app", "PATH_INFO": "/x"}, "/app/x"),
        ({"PATH_INFO": "/a\nb\x00c\xe9"}, "/a?b?c?"),
        ({"PATH_INFO": "/" + "a" * 500}, "/" + "a" * 199),
        ({}, ""),
    ],
)
def test_logged_paths_are_one_printable_line(environ: dict[str, str], logged: str) -> None:
    assert logged_path(environ) == logged
