"""The API reference at /api/docs renders in Chromium under the portal's CSP, from the
portal's own files (no CDN), and shows the operations of the document."""

from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def test_the_reference_renders_under_the_csp(page, live_server):
    problems, outside = [], []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    ours = (live_server.url, f"blob:{live_server.url}")
    page.on("request", lambda r: None if r.url.startswith(ours) else outside.append(r.url))
    response = page.goto("/api/docs")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self' " in csp and "worker-src 'self' blob:;" in csp
    page.get_by_role("heading", name="M4SH Portal API").first.wait_for()
    intent = page.get_by_role("heading", name="Start paying for a lesson")
    intent.wait_for()
    page.get_by_role("heading", name="Receive a Stripe event").wait_for()
    # The whole reference is too long for one full-page shot: the window as seen.
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
    intent.scroll_into_view_if_needed()
    assert page.get_by_text("Idempotency-Key").first.is_visible()
    page.screenshot(path=str(ARTIFACTS / "api-docs-intent.png"))
    assert (outside, problems) == ([], [])
    page.get_by_role("textbox", name="Search").fill("refund")
    page.get_by_role("menuitem", name="Refund a payment").wait_for()
