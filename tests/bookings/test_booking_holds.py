"""Unpaid lessons hold the tutor's time for BOOKING_HOLD_MINUTES, and a student holds at
most MAX_UNPAID_BOOKINGS at once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.bookings import tasks
from portal.bookings.models import Booking, BookingStatus
from portal.bookings.services import create_booking
from portal.db import utcnow
from portal.errors import Conflict
from portal.extensions import db
from portal.payments.intents import create_payment_intent
from portal.payments.models import Payment, PaymentStatus
from tests.support.localstripe import VISA


def _book(student, tutor, day: int, minutes_ago: int = 0) -> Booking:
    starts_at = (utcnow() + timedelta(days=day)).replace(second=0, microsecond=0)
    booking = create_booking(student, tutor.id, starts_at, 60, currency="usd")
    booking.created_at = utcnow() - timedelta(minutes=minutes_ago)
    db.session.commit()
    return booking


def test_a_student_holds_at_most_five_unpaid_lessons(app, student, tutor):
    for day in range(1, 6):
        _book(student, tutor, day)
    with pytest.raises(Conflict) as refused:
        _book(student, tutor, 6)
    assert refused.value.code == "too_many_unpaid"
    db.session.rollback()
    assert db.session.query(Booking).count() == 5


def test_an_unpaid_lesson_past_its_hold_is_cancelled_and_frees_the_slot(app, student, tutor):
    old = _book(student, tutor, 2, minutes_ago=61)
    fresh = _book(student, tutor, 3, minutes_ago=10)
    assert tasks.expire_unpaid_bookings.run() == "unpaid lessons cancelled: 1; kept: 0"
    db.session.expire_all()
    assert (old.status, fresh.status) == (BookingStatus.CANCELLED, BookingStatus.PENDING_PAYMENT)
    # Somebody else can book that time now.
    from tests.factories import UserFactory

    other = UserFactory(role="student")
    again = create_booking(other, tutor.id, old.starts_at, 60, currency="usd")
    assert again.status == BookingStatus.PENDING_PAYMENT


@pytest.mark.stripe
def test_a_payment_in_progress_is_abandoned_and_one_that_went_through_keeps_the_lesson(
    app, student, tutor, localstripe
):
    from portal.providers import get_provider

    abandoned = _book(student, tutor, 2, minutes_ago=90)
    create_payment_intent(student, abandoned.id)
    db.session.commit()
    paid = _book(student, tutor, 3, minutes_ago=90)
    step = create_payment_intent(student, paid.id)
    db.session.commit()
    # Paid at Stripe, but the portal has not heard yet.
    provider = get_provider()
    card = provider.attach_payment_method(
        localstripe.token(VISA), customer=student.stripe_customer_id, idempotency_key="hold-card"
    )
    provider.confirm_payment_intent(step.payment.provider_payment_id, payment_method=card.id)

    assert tasks.expire_unpaid_bookings.run() == "unpaid lessons cancelled: 1; kept: 1"
    db.session.expire_all()
    assert abandoned.status == BookingStatus.CANCELLED
    assert db.session.query(Payment).filter_by(booking_id=abandoned.id).one().status == (
        PaymentStatus.CANCELLED
    )
    assert paid.status == BookingStatus.PENDING_PAYMENT  # the sync or the webhook settles it
    assert db.session.query(Payment).filter_by(booking_id=paid.id).one().status in (
        PaymentStatus.PENDING,
        PaymentStatus.SUCCEEDED,
    )


@pytest.mark.stripe
def test_a_lesson_whose_intent_stripe_already_cancelled_can_be_cancelled(
    app, student, tutor, localstripe
):
    from portal.bookings.services import cancel_booking
    from portal.providers import get_provider

    booking = _book(student, tutor, 2)
    step = create_payment_intent(student, booking.id)
    db.session.commit()
    # Cancelled at Stripe by an earlier attempt whose own transaction rolled back.
    get_provider().cancel_payment_intent(step.payment.provider_payment_id)
    cancel_booking(student, booking.id)
    db.session.commit()
    db.session.expire_all()
    assert booking.status == BookingStatus.CANCELLED
    assert db.session.get(Payment, step.payment.id).status == PaymentStatus.CANCELLED
