"""A failed refund in Chromium: the student is told, an admin finds it and refunds again."""

from __future__ import annotations

import pytest

from portal.payments.models import PaymentStatus, RefundStatus
from tests.conftest import screenshot
from tests.webhooks.conftest import event_body, fail_at_stripe

pytestmark = [pytest.mark.browser, pytest.mark.stripe]


def test_a_failed_refund_is_shown_and_refunded_again(
    refunded, stripe_replay, deliver, page, chromium, live_server, sign_in, admin
):
    lesson, refund = refunded(2000)
    deliver(event_body("refund.failed", fail_at_stripe(stripe_replay, lesson, refund)))
    payment = lesson.refresh()

    sign_in(page, lesson.student)
    page.goto(f"/billing/payments/{payment.uuid}")
    page.get_by_text("A refund of $20.00 could not be paid back to your card").wait_for()
    screenshot(page, "refund-failed-student")

    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    office = context.new_page()
    sign_in(office, admin)
    office.goto("/admin/payments")
    failed = office.get_by_role("region", name="Refunds that failed at Stripe")
    screenshot(office, "refund-failed-admin-list")
    failed.get_by_role("link", name=f"$20.00 to {lesson.student.name}").click()
    office.wait_for_url(f"**/admin/payments/{payment.uuid}")
    office.get_by_label("Part of it").check()
    office.get_by_label("Amount to refund").fill("20.00")
    office.get_by_label("Reason").fill("The first refund failed: card closed")
    office.get_by_role("button", name="Review refund").click()
    office.get_by_role("button", name="Confirm refund of $20.00").click()
    office.get_by_text("Refunded $20.00.").wait_for()
    screenshot(office, "refund-failed-admin-refunded-again")
    office.goto("/admin/payments")
    assert office.get_by_role("region", name="Refunds that failed at Stripe").count() == 0
    context.close()

    # The tutor's statement shows the share coming back, then going out again.
    tutor_context = chromium.new_context(base_url=live_server.url)
    tutor_page = tutor_context.new_page()
    sign_in(tutor_page, payment.recipient)
    tutor_page.goto("/earnings")
    statement = tutor_page.locator("#statement")
    statement.get_by_text("Refund reversed").wait_for()
    screenshot(tutor_page, "refund-failed-tutor-statement")
    tutor_context.close()

    payment = lesson.refresh()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.PARTIALLY_REFUNDED, 2000)
    assert sorted(r.status for r in payment.refunds) == [
        RefundStatus.FAILED,
        RefundStatus.SUCCEEDED,
    ]
