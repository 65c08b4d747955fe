"""A live portal in a thread on a free port, and Chromium driven by Playwright.

Used by the browser tier: the app under test serves real HTTP on 127.0.0.1 against the
same database as the test, so pages, htmx and Stripe.js run as they would for a user.
"""

from __future__ import annotations

import os
import shutil

from werkzeug.serving import make_server

from tests.support.servers import ServedInThread, free_port
from tests.support.tiers import unavailable

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


class LiveServer(ServedInThread):
    def __init__(self, app):
        super().__init__(make_server("127.0.0.1", free_port(), app, threaded=True))


def launch_chromium(playwright):
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        unavailable("browser tier: Chromium not found (apt-get install -y chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
