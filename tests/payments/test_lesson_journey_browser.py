"""My lessons → Pay → that lesson's payment; upcoming lessons soonest first; the 3-D Secure
step alone on screen."""

from datetime import timedelta

import pytest

from portal.db import utcnow
from portal.extensions import db
from portal.payments.models import Payment, PaymentStatus
from tests.conftest import look
from tests.factories import BookingFactory
from tests.payments.test_browser import _fill_card
from tests.support.localstripe import THREE_D_SECURE

pytestmark = [pytest.mark.browser, pytest.mark.stripe]


def test_upcoming_lists_the_soonest_lesson_first(login, student, tutor):
    far = BookingFactory(student=student, tutor=tutor, starts_at=utcnow() + timedelta(days=20))
    soon = BookingFactory(student=student, tutor=tutor, starts_at=utcnow() + timedelta(days=2))
    html = login(student).get("/lessons").text
    assert html.index(f'id="booking-{soon.id}"') < html.index(f'id="booking-{far.id}"')
    everything = login(student).get("/lessons?show=all").text
    assert everything.index(f'id="booking-{far.id}"') < everything.index(f'id="booking-{soon.id}"')


def test_pay_opens_that_lessons_payment_and_3ds_stands_alone(
    page, sign_in, student, tutor, localstripe
):
    BookingFactory(student=student, tutor=tutor, starts_at=utcnow() + timedelta(days=9))
    lesson = BookingFactory(
        student=student, tutor=tutor, starts_at=utcnow() + timedelta(days=3), duration_minutes=90
    )
    sign_in(page, student)
    look(page, "student-lessons-upcoming")
    page.locator(f"#booking-{lesson.id}").get_by_role("button", name="Pay $67.50").click()
    page.wait_for_url("**/billing/payments/*")
    assert page.get_by_text("90 minutes").is_visible()
    _fill_card(page, THREE_D_SECURE)
    page.get_by_role("button", name="Pay $67.50").click()
    page.get_by_role("button", name="Complete authentication").wait_for()
    assert page.get_by_text("Your bank asks you to confirm").is_visible()
    assert page.get_by_role("button", name="Pay $67.50").is_hidden()
    assert page.get_by_text("Pay with", exact=True).is_hidden()
    assert page.get_by_role("button", name="Pay with Stripe Checkout").count() == 0
    look(page, "student-3ds-step")
    page.get_by_role("button", name="Complete authentication").click()
    page.locator("[data-payment-state=succeeded]").wait_for()
    db.session.expire_all()
    payment = db.session.query(Payment).one()
    assert payment.booking_id == lesson.id and payment.status == PaymentStatus.SUCCEEDED


def test_the_readme_card_typed_with_spaces_pays(page, sign_in, student, tutor, localstripe):
    BookingFactory(student=student, tutor=tutor)
    sign_in(page, student)
    page.get_by_role("button", name="Pay $45.00").click()
    page.wait_for_url("**/billing/payments/*")
    hint = page.locator("[data-test-card]")
    assert "4242 4242 4242 4242" in hint.inner_text()
    card = page.locator("#card-element")
    number = card.locator("input[placeholder=number]")
    number.click()
    number.press_sequentially("4242 4242 4242 4242", delay=10)  # as a person types it
    for field, value in (("exp_month", "12"), ("exp_year", "34"), ("cvc", "123")):
        card.locator(f"input[placeholder={field}]").fill(value)
    assert number.input_value() == "4242424242424242"
    look(page, "student-pay-test-card")
    page.get_by_role("button", name="Pay $45.00").click()
    page.locator("[data-payment-state=succeeded]").wait_for()
    db.session.expire_all()
    assert db.session.query(Payment).one().card_last4 == "4242"
