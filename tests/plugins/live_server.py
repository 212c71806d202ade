"""Serve a WSGI app with waitress on a free 127.0.0.1 port, for tests that need real HTTP."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import waitress
from waitress import wasyncore


class LiveServer:
    """A waitress server on its own thread; the port is known before the app is built."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self, app: Callable, **options: Any) -> LiveServer:
        """``options``: more waitress settings (``trusted_proxy``, ...)."""
        self._server = waitress.create_server(
            app, sockets=[self._sock], threads=8, ident="test", **options
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listener and every open connection from the server's own loop thread.

        Closing only the listener would leave keep-alive connections in waitress's socket map,
        and its loop runs until that map is empty.
        """
        server, self._server = self._server, None
        if server is None:  # never started, or already stopped
            self._sock.close()
            return
        thread = self._thread
        if thread is not None and thread.is_alive():
            try:
                server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
            except OSError:
                pass  # the loop has already let go of its trigger: close from here below
            else:
                thread.join(timeout=5)
        if thread is None or not thread.is_alive():
            wasyncore.close_all(server._map, ignore_all=True)
        server.task_dispatcher.shutdown()


@pytest.fixture
def live_server() -> Iterator[Callable[[], LiveServer]]:
    """Call it to get a server with a port; start it with the app built for that port."""
    servers: list[LiveServer] = []

    def make() -> LiveServer:
        server = LiveServer()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
