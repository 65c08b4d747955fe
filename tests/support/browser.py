"""A live portal in a thread on a free port, and Chromium driven by Playwright.

Used by the browser tier: the app under test serves real HTTP on 127.0.0.1 against the
same database as the test, so pages, htmx and Stripe.js run as they would for a user.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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


# axe-core from npm (package.json pins it; `npm ci` installs it), run in the page as it is.
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")

_RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + " :: " + n.failureSummary),
  }));
}"""


def axe_violations(page, impacts: tuple[str, ...] = BLOCKING_IMPACTS) -> list[dict]:
    """axe-core's violations of the page as it is now, of the given impacts.

    The script goes in through the browser's debugging protocol, which the page's Content
    Security Policy does not govern, so the portal's CSP stays as in production.
    """
    if not AXE.exists():
        unavailable("browser tier: axe-core is not installed (npm ci)")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate("source => { const s = new Function(source); s(); }", AXE.read_text())
    return [v for v in page.evaluate(_RUN_AXE) if v["impact"] in impacts]
