"""`cleanup_expired_payment_intents`: attempts left pending longer than
PAYMENT_INTENT_EXPIRY_HOURS are cancelled at Stripe (localstripe) and here."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.bookings.models import BookingStatus
from portal.bookings.services import create_booking
from portal.db import utcnow
from portal.extensions import db
from portal.payments import tasks
from portal.payments.intents import create_payment_intent
from portal.payments.models import Payment, PaymentStatus
from portal.providers import get_provider
from tests.support.localstripe import VISA

pytestmark = pytest.mark.stripe


def _attempt(student, tutor, day: int, hours_ago: float) -> Payment:
    starts_at = (utcnow() + timedelta(days=day)).replace(second=0, microsecond=0)
    booking = create_booking(student, tutor.id, starts_at, 60, currency="usd")
    db.session.commit()
    payment = create_payment_intent(student, booking.id).payment
    payment.created_at = utcnow() - timedelta(hours=hours_ago)
    db.session.commit()
    return payment


def _at_stripe(localstripe, payment: Payment) -> str:
    return localstripe.get(f"/v1/payment_intents/{payment.provider_payment_id}")["status"]


def test_old_attempts_are_cancelled_at_stripe_and_here_fresh_ones_stay(
    app, student, tutor, localstripe
):
    old = _attempt(student, tutor, 2, hours_ago=25)
    fresh = _attempt(student, tutor, 3, hours_ago=23)

    assert tasks.cleanup_expired_payment_intents.run() == "expired payment attempts: 1 cancelled"

    db.session.expire_all()
    assert (old.status, fresh.status) == (PaymentStatus.CANCELLED, PaymentStatus.PENDING)
    assert old.cancelled_at is not None
    assert _at_stripe(localstripe, old) == "canceled"
    assert _at_stripe(localstripe, fresh) == "requires_payment_method"
    # The lesson is left to its own expiry: the student may still pay it with a new attempt.
    assert old.booking.status == BookingStatus.PENDING_PAYMENT
    again = create_payment_intent(student, old.booking_id).payment
    assert again.id != old.id and again.status == PaymentStatus.PENDING
    # A second run finds nothing more to do.
    db.session.commit()
    assert tasks.cleanup_expired_payment_intents.run() == "expired payment attempts: none"


def test_the_expiry_is_configurable(app, student, tutor, localstripe, monkeypatch):
    monkeypatch.setitem(app.config, "PAYMENT_INTENT_EXPIRY_HOURS", 2)
    payment = _attempt(student, tutor, 2, hours_ago=3)
    assert tasks.cleanup_expired_payment_intents.run() == "expired payment attempts: 1 cancelled"
    db.session.expire_all()
    assert payment.status == PaymentStatus.CANCELLED


def test_an_attempt_paid_at_stripe_meanwhile_is_recorded_as_paid_not_cancelled(
    app, student, tutor, localstripe
):
    payment = _attempt(student, tutor, 2, hours_ago=30)
    provider = get_provider()
    card = provider.attach_payment_method(
        localstripe.token(VISA), customer=student.stripe_customer_id, idempotency_key="late-card"
    )
    provider.confirm_payment_intent(payment.provider_payment_id, payment_method=card.id)
    assert _at_stripe(localstripe, payment) == "succeeded"

    assert tasks.cleanup_expired_payment_intents.run() == "expired payment attempts: 1 succeeded"

    db.session.expire_all()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.booking.status == BookingStatus.SCHEDULED


def test_an_attempt_stripe_already_cancelled_is_cancelled_here(app, student, tutor, localstripe):
    payment = _attempt(student, tutor, 2, hours_ago=30)
    get_provider().cancel_payment_intent(payment.provider_payment_id)
    assert tasks.cleanup_expired_payment_intents.run() == "expired payment attempts: 1 cancelled"
    db.session.expire_all()
    assert payment.status == PaymentStatus.CANCELLED


def test_stripe_out_of_reach_keeps_the_attempt_for_the_next_run(app, student, tutor, localstripe):
    from portal.providers import EXTENSION_KEY
    from portal.providers.stripe import StripeProvider
    from tests.support.servers import free_port

    payment = _attempt(student, tutor, 2, hours_ago=30)
    app.extensions[EXTENSION_KEY] = StripeProvider.from_config(
        {**app.config, "STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}"}
    )
    try:
        assert tasks.cleanup_expired_payment_intents.run() == "expired payment attempts: 1 kept"
    finally:
        app.extensions.pop(EXTENSION_KEY)
    db.session.expire_all()
    assert payment.status == PaymentStatus.PENDING
    assert _at_stripe(localstripe, payment) == "requires_payment_method"
