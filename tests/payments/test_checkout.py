"""Paying a lesson on Stripe Checkout, against recorded Stripe responses for the session
(localstripe has no Checkout) and localstripe for everything else."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.bookings.models import BookingStatus
from portal.errors import Conflict
from portal.extensions import db
from portal.payments import intents
from portal.payments.checkout import complete_checkout, start_checkout
from portal.payments.models import Payment, PaymentStatus
from portal.payments.signals import payment_succeeded
from tests.factories import BookingFactory, UserFactory

pytestmark = pytest.mark.stripe

SESSION = "cs_test_a1Q9rVwzM2xK7pHc4Ld8Ne3Tb6Yf0Gs5Uj1Wk9Xo2Zq4Rm7Pa3Ve8Ct5By6Di0Fh"
SESSION_PATH = f"/v1/checkout/sessions/{SESSION}"
PAID_INTENT = "pi_3QYvUaKx3oV2nQeR1c9TbGxA"


@pytest.fixture
def checkout(stripe_replay):
    stripe_replay.answer("POST", "/v1/checkout/sessions", "checkout_session_payment_open")
    return stripe_replay


def _payments() -> list[Payment]:
    return list(db.session.scalars(sa.select(Payment).order_by(Payment.id)))


def test_the_pay_with_checkout_button_sends_the_student_to_stripe(login, student, lesson, checkout):
    response = login(student).post(f"/billing/lessons/{lesson.id}/checkout")
    assert response.status_code == 303
    assert response.headers["Location"].startswith(f"https://checkout.stripe.com/c/pay/{SESSION}")

    [payment] = _payments()
    assert (payment.status, payment.provider_checkout_session_id) == ("pending", SESSION)
    assert payment.provider_payment_id is None and payment.amount == 4500
    [sent] = checkout.seen("POST", "/v1/checkout/sessions")
    assert sent.headers["Idempotency-Key"] == payment.idempotency_key
    assert sent.form["customer"] == db.session.get(type(student), student.id).stripe_customer_id
    assert sent.form["client_reference_id"] == str(payment.uuid)
    assert sent.form["line_items[0][price_data][unit_amount]"] == "4500"
    assert "Lesson with" in sent.form["line_items[0][price_data][product_data][name]"]
    assert sent.form["success_url"] == (
        "http://localhost/billing/checkout/return?session_id={CHECKOUT_SESSION_ID}"
    )
    assert sent.form["cancel_url"] == "http://localhost/billing?checkout=cancelled"
    assert sent.form["metadata[payment_uuid]"] == str(payment.uuid)


def test_the_return_page_shows_the_real_state_and_records_the_success_once(
    login, student, lesson, checkout
):
    succeeded = []
    payment_succeeded.connect(receiver := lambda payment, **_: succeeded.append(payment.uuid))
    try:
        browser = login(student)
        browser.post(f"/billing/lessons/{lesson.id}/checkout")
        checkout.answer("GET", SESSION_PATH, "checkout_session_payment_complete")
        back = browser.get(f"/billing/checkout/return?session_id={SESSION}")
        again = browser.get(f"/billing/checkout/return?session_id={SESSION}")
    finally:
        payment_succeeded.disconnect(receiver)

    [payment] = _payments()
    assert (
        back.status_code == 302 and back.headers["Location"] == f"/billing/payments/{payment.uuid}"
    )
    assert again.status_code == 302
    assert (payment.status, payment.provider_payment_id) == (PaymentStatus.SUCCEEDED, PAID_INTENT)
    assert payment.booking.status == BookingStatus.SCHEDULED
    assert succeeded == [payment.uuid]
    page = browser.get(back.headers["Location"]).get_data(as_text=True)
    assert 'data-payment-state="succeeded"' in page


def test_returning_before_stripe_has_the_payment_leaves_it_pending(
    login, student, lesson, checkout
):
    browser = login(student)
    browser.post(f"/billing/lessons/{lesson.id}/checkout")
    checkout.answer("GET", SESSION_PATH, "checkout_session_payment_open")
    browser.get(f"/billing/checkout/return?session_id={SESSION}")
    [payment] = _payments()
    assert payment.status == PaymentStatus.PENDING and payment.provider_status == "open"
    page = browser.get(f"/billing/payments/{payment.uuid}").get_data(as_text=True)
    assert "Continue on Stripe Checkout" in page


def test_an_open_session_is_reused(student, lesson, checkout):
    first = start_checkout(student, lesson.id, success_url="http://a/ok", cancel_url="http://a/no")
    db.session.commit()
    checkout.answer("GET", SESSION_PATH, "checkout_session_payment_open")
    again = start_checkout(student, lesson.id, success_url="http://a/ok", cancel_url="http://a/no")
    assert again.payment.uuid == first.payment.uuid and again.redirect_url == first.redirect_url
    assert len(checkout.seen("POST", "/v1/checkout/sessions")) == 1


def test_switching_to_the_card_form_expires_the_session(student, lesson, checkout):
    start_checkout(student, lesson.id, success_url="http://a/ok", cancel_url="http://a/no")
    db.session.commit()
    checkout.answer("POST", f"{SESSION_PATH}/expire", "checkout_session_payment_expired")
    step = intents.create_payment_intent(student, lesson.id)
    db.session.commit()

    old, new = _payments()
    assert old.status == PaymentStatus.CANCELLED and new.uuid == step.payment.uuid
    assert new.provider_payment_id.startswith("pi_") and new.status == PaymentStatus.PENDING
    assert len(checkout.seen("POST", f"{SESSION_PATH}/expire")) == 1


def test_switching_to_checkout_cancels_the_card_payment(student, lesson, checkout, localstripe):
    step = intents.create_payment_intent(student, lesson.id)
    db.session.commit()
    start_checkout(student, lesson.id, success_url="http://a/ok", cancel_url="http://a/no")
    db.session.commit()

    old, new = _payments()
    assert old.uuid == step.payment.uuid and old.status == PaymentStatus.CANCELLED
    assert localstripe.get(f"/v1/payment_intents/{old.provider_payment_id}")["status"] == "canceled"
    assert new.provider_checkout_session_id == SESSION


def test_a_session_paid_meanwhile_is_recorded_instead_of_replaced(student, lesson, checkout):
    start_checkout(student, lesson.id, success_url="http://a/ok", cancel_url="http://a/no")
    db.session.commit()
    checkout.answer("POST", f"{SESSION_PATH}/expire", "session_expire_not_open", status=400)
    checkout.answer("GET", SESSION_PATH, "checkout_session_payment_complete")
    step = intents.create_payment_intent(student, lesson.id)
    db.session.commit()

    [payment] = _payments()
    assert step.payment.uuid == payment.uuid and payment.status == PaymentStatus.SUCCEEDED


def test_a_session_for_another_amount_records_nothing(student, tutor, checkout):
    long_lesson = BookingFactory(student=student, tutor=tutor, duration_minutes=90)
    start_checkout(student, long_lesson.id, success_url="http://a/ok", cancel_url="http://a/no")
    db.session.commit()
    checkout.answer("GET", SESSION_PATH, "checkout_session_payment_complete")  # 4500, not 6750
    with pytest.raises(Conflict, match="different amount"):
        complete_checkout(student, SESSION)
    db.session.rollback()
    assert _payments()[0].status == PaymentStatus.PENDING


def test_somebody_elses_or_an_unknown_session_is_404(login, student, lesson, checkout):
    start_checkout(student, lesson.id, success_url="http://a/ok", cancel_url="http://a/no")
    db.session.commit()
    stranger = login(UserFactory(role="student"))
    assert stranger.get(f"/billing/checkout/return?session_id={SESSION}").status_code == 404
    assert stranger.get("/billing/checkout/return?session_id=nope").status_code == 404
    assert stranger.get("/billing/checkout/return").status_code == 404


def test_cancelling_on_checkout_comes_back_to_billing(login, student):
    page = login(student).get("/billing?checkout=cancelled").get_data(as_text=True)
    assert "Checkout was closed and nothing was charged." in page
