"""A live portal in a thread on a free port, and Chromium driven by Playwright.

Used by the browser tier: the app under test serves real HTTP on 127.0.0.1 against the
same database as the test, so pages, htmx and Stripe.js run as they would for a user.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from contextlib import closing

from werkzeug.serving import make_server

from tests.tiers import unavailable

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(self, app):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = make_server("127.0.0.1", self.port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


def launch_chromium(playwright):
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        unavailable("browser tier: Chromium not found (apt-get install -y chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
