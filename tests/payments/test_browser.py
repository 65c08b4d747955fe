"""The billing pages in Chromium against localstripe's Stripe.js: the card element, the
server-side confirmation, 3-D Secure, declines, saving a card and a refund."""

from __future__ import annotations

import pytest

from portal.bookings.models import BookingStatus
from portal.extensions import db
from portal.payments.models import Payment, PaymentMethod, PaymentStatus
from tests.conftest import screenshot
from tests.support.localstripe import DECLINED, THREE_D_SECURE, VISA

pytestmark = [pytest.mark.browser, pytest.mark.stripe]


def _fill_card(page, number: str, root: str = "#card-element") -> None:
    """Type a card into the card element (localstripe's Stripe.js draws plain inputs)."""
    card = page.locator(root)
    card.locator("input[placeholder=number]").wait_for()
    for field, value in (
        ("number", number),
        ("exp_month", "12"),
        ("exp_year", "34"),
        ("cvc", "123"),
        ("postal_code", "10001"),
    ):
        card.locator(f"input[placeholder={field}]").fill(value)


def _open_payment_page(page, sign_in, student) -> None:
    sign_in(page, student)
    page.get_by_role("link", name="Billing").click()
    page.wait_for_url("**/billing")
    screenshot(page, "billing-overview")
    page.get_by_role("button", name="Pay $45.00").click()
    page.wait_for_url("**/billing/payments/*")
    page.locator("#card-element input[placeholder=number]").wait_for()


def test_a_student_pays_with_the_card_element_and_the_tutor_sees_the_earning(
    page, sign_in, student, tutor, lesson, localstripe
):
    _open_payment_page(page, sign_in, student)
    _fill_card(page, VISA)
    screenshot(page, "billing-pay")
    page.get_by_role("button", name="Pay $45.00").click()
    page.locator("[data-payment-state=succeeded]").wait_for()
    assert page.get_by_text("Your lesson with").is_visible()
    screenshot(page, "billing-paid")

    db.session.expire_all()
    payment = db.session.query(Payment).one()
    assert payment.status == PaymentStatus.SUCCEEDED and payment.card_last4 == "4242"
    assert db.session.get(type(lesson), lesson.id).status == BookingStatus.SCHEDULED
    # The card number never reached the portal: only what the page shows was stored.
    assert VISA not in page.content()

    tutor_page = page.context.browser.new_context(base_url=page.url.split("/billing")[0]).new_page()
    sign_in(tutor_page, tutor)
    tutor_page.goto("/earnings")
    assert tutor_page.get_by_text("$38.25").first.is_visible()
    screenshot(tutor_page, "tutor-earnings-after-payment")


def test_three_d_secure_in_the_browser(page, sign_in, student, lesson, localstripe):
    _open_payment_page(page, sign_in, student)
    _fill_card(page, THREE_D_SECURE)
    page.get_by_role("button", name="Pay $45.00").click()
    # localstripe's Stripe.js shows its stand-in for the bank's window.
    page.get_by_role("button", name="Complete authentication").wait_for()
    screenshot(page, "billing-3ds")
    page.get_by_role("button", name="Complete authentication").click()
    page.locator("[data-payment-state=succeeded]").wait_for()
    db.session.expire_all()
    assert db.session.query(Payment).one().status == PaymentStatus.SUCCEEDED


def test_a_declined_card_shows_stripes_message_and_a_retry(
    page, sign_in, student, lesson, localstripe
):
    _open_payment_page(page, sign_in, student)
    _fill_card(page, DECLINED)
    page.get_by_role("button", name="Pay $45.00").click()
    page.locator("[data-payment-state=failed]").wait_for()
    assert page.get_by_text("Your card was declined.").is_visible()
    screenshot(page, "billing-declined")

    page.get_by_role("button", name="Try again").click()
    page.locator("#card-element input[placeholder=number]").wait_for()
    _fill_card(page, VISA)
    page.get_by_role("button", name="Pay $45.00").click()
    page.locator("[data-payment-state=succeeded]").wait_for()


def test_a_student_saves_a_card_then_pays_with_it_and_gets_a_refund(
    page, sign_in, student, lesson, localstripe
):
    sign_in(page, student)
    page.goto("/billing/methods")
    _fill_card(page, VISA, "#new-card-element")
    page.get_by_role("button", name="Save card").click()
    page.get_by_text("Visa •••• 4242 is saved.").wait_for()
    screenshot(page, "billing-methods")
    db.session.expire_all()
    assert db.session.query(PaymentMethod).one().user_id == student.id

    page.goto("/billing")
    page.get_by_role("button", name="Pay $45.00").click()
    page.wait_for_url("**/billing/payments/*")
    assert page.get_by_label("Visa •••• 4242").is_checked()
    assert page.locator("[data-new-card-fields]").is_hidden()
    page.get_by_role("button", name="Pay $45.00").click()
    page.locator("[data-payment-state=succeeded]").wait_for()

    page.get_by_role("link", name="Payment history").click()
    page.wait_for_url("**/billing/payments")
    screenshot(page, "billing-history")
    page.get_by_role("link", name="Refund").click()
    page.get_by_role("button", name="Refund $45.00 and cancel the lesson").wait_for()
    screenshot(page, "billing-refund")
    page.get_by_role("button", name="Refund $45.00 and cancel the lesson").click()
    page.get_by_text("Refunded $45.00. The lesson is cancelled.").wait_for()
    screenshot(page, "billing-refunded")
    db.session.expire_all()
    assert db.session.query(Payment).one().status == PaymentStatus.REFUNDED


def test_admin_payment_pages(page, sign_in, admin, student, lesson, pay):
    payment = pay(student, lesson)
    sign_in(page, admin)
    page.get_by_role("link", name="Payments").click()
    page.wait_for_url("**/admin/payments")
    screenshot(page, "admin-payments")
    page.goto(f"/admin/payments/{payment.uuid}")
    page.get_by_label("Part of it").check()
    page.get_by_label("Amount to refund").fill("10")
    page.get_by_label("Reason").fill("Lesson started late")
    page.get_by_role("button", name="Review refund").click()
    page.get_by_role("button", name="Confirm refund of $10.00").click()
    page.get_by_text("Refunded $10.00.").wait_for()
    screenshot(page, "admin-payment-detail")
