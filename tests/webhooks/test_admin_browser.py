"""The admin's webhook pages in Chromium: the failed count, filters, the payload, Replay."""

from __future__ import annotations

import pytest

from portal.payments.models import PaymentStatus
from portal.webhooks import handlers
from portal.webhooks.models import EventStatus
from tests.conftest import screenshot
from tests.webhooks.conftest import event_body, intent_event, plain_invoice, stored

pytestmark = [pytest.mark.browser, pytest.mark.stripe]


def _broken(event):
    raise RuntimeError("the ledger database went away")


def test_an_admin_finds_a_failed_event_and_replays_it(
    page, sign_in, admin, deliver, new_lesson, monkeypatch
):
    deliver(event_body("customer.created", {"id": "cus_demo"}))
    deliver(event_body("invoice.paid", plain_invoice("in_demo")))
    lesson = new_lesson()
    lesson.pay_at_stripe()
    failing = intent_event("payment_intent.succeeded", lesson)
    monkeypatch.setitem(handlers.HANDLERS, failing["type"], _broken)
    deliver(failing)
    monkeypatch.undo()

    sign_in(page, admin)
    nav_link = page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks")
    assert nav_link.inner_text().replace("\n", " ").strip() == "Webhooks 1 failed"
    nav_link.click()
    page.wait_for_url("**/admin/webhooks")
    assert page.locator("#events tbody tr").count() == 3
    screenshot(page, "admin-webhooks")

    page.get_by_label("Status").select_option("failed")
    page.wait_for_url("**/admin/webhooks?*status=failed*")
    page.locator("#events tbody tr").nth(0).wait_for()
    assert page.locator("#events tbody tr").count() == 1
    screenshot(page, "admin-webhooks-failed")

    page.get_by_role("link", name=failing["id"]).click()
    page.get_by_text("Failed: RuntimeError: the ledger database went away").wait_for()
    assert page.get_by_label("Event payload").inner_text().count(lesson.intent_id) >= 1
    screenshot(page, "admin-webhook-detail-failed")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Replay").click()
    page.get_by_text("Replayed: the event is processed.").wait_for()
    screenshot(page, "admin-webhook-detail-replayed")
    assert stored(failing["id"]).status == EventStatus.PROCESSED
    assert lesson.refresh().status == PaymentStatus.SUCCEEDED
    nav_link = page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks")
    assert nav_link.inner_text().strip() == "Webhooks"
