"""A refund in Chromium, as the student lives it: after refunding a lesson, its payment
page, the billing page, the invoice list and the invoice say "refunded", never "Paid. Your
lesson is booked."; an admin's partial refund reads "partly refunded" the same way."""

import pytest

from portal.extensions import db
from portal.payments import refunds
from tests.conftest import look
from tests.factories import BookingFactory

pytestmark = [pytest.mark.browser, pytest.mark.stripe]


def test_a_refunded_lesson_reads_refunded_on_its_payment_and_its_invoice(
    page, sign_in, student, tutor, pay
):
    payment = pay(student, BookingFactory(student=student, tutor=tutor))
    sign_in(page, student)
    page.goto("/billing/payments")
    page.get_by_role("link", name="Refund").click()
    page.get_by_label("Reason").fill("My plans changed")
    page.get_by_role("button", name="Refund $45.00 and cancel the lesson").click()
    page.get_by_text("Refunded $45.00. The lesson is cancelled.").wait_for()

    page.goto(f"/billing/payments/{payment.uuid}")
    state = page.locator("[data-payment-state=refunded]")
    assert "Refunded. All $45.00 was refunded to Visa •••• 4242" in state.inner_text()
    assert f"Your lesson with {tutor.name}" in state.inner_text()
    assert "is cancelled." in state.inner_text()
    assert page.get_by_text("Paid.", exact=True).count() == 0
    assert page.get_by_text("is booked").count() == 0
    look(page, "refund-payment-page")

    page.goto("/billing")
    assert page.locator("#recent-title ~ table .status-refunded").inner_text() == "refunded"
    page.goto("/billing/invoices")
    assert page.locator(".status-refunded").inner_text() == "refunded"
    assert page.get_by_text("paid", exact=True).count() == 0
    look(page, "refund-invoice-list")
    page.locator("table a").first.click()
    page.get_by_role("heading", name="Credit notes").wait_for()
    assert page.get_by_text("$45.00 of $45.00 refunded").is_visible()
    look(page, "refund-invoice-page")


def test_a_part_refunded_lesson_reads_partly_refunded(page, sign_in, student, tutor, admin, pay):
    payment = pay(student, BookingFactory(student=student, tutor=tutor))
    refunds.process_refund(admin, payment.uuid, amount=1500, reason="Started late")
    db.session.commit()
    sign_in(page, student)
    page.goto(f"/billing/payments/{payment.uuid}")
    state = page.locator("[data-payment-state=partially_refunded]").inner_text()
    assert "Paid, partly refunded. $15.00 of $45.00 has been refunded to Visa •••• 4242" in state
    assert "is booked." in state  # the lesson still takes place
    look(page, "refund-partly-payment-page")
    page.goto("/billing/invoices")
    assert page.locator(".status-partially_refunded").inner_text() == "partly refunded"
    page.goto("/lessons")
    assert page.locator(".status-partially_refunded").inner_text() == "partly refunded"
    assert page.get_by_text("to cancel, ask M4SH support to refund the rest").is_visible()
    assert page.get_by_role("link", name="Cancel and refund").count() == 0
    look(page, "refund-partly-lessons")
