"""Payments and the lesson: the booking's payment id, and cancelling a paid lesson."""

from __future__ import annotations

import pytest

from portal.bookings import services as bookings
from portal.bookings.models import BookingStatus
from portal.errors import Conflict
from portal.extensions import db
from portal.payments import intents, refunds
from portal.payments.models import Payment, PaymentStatus

pytestmark = pytest.mark.stripe


def test_a_lessons_payment_id_is_its_latest_attempt(student, lesson, pay):
    assert bookings.payment_id_for(lesson) is None
    failed = pay(student, lesson, "4000000000000002")
    assert bookings.payment_id_for(lesson) == failed.uuid
    paid = pay(student, lesson)
    assert bookings.payment_id_for(lesson) == paid.uuid


def test_a_paid_lesson_is_not_cancelled_without_a_refund(student, lesson, pay):
    pay(student, lesson)
    with pytest.raises(Conflict, match="Ask for a refund"):
        bookings.cancel_booking(student, lesson.id)
    db.session.rollback()
    assert db.session.get(type(lesson), lesson.id).status == BookingStatus.SCHEDULED


def test_a_partly_refunded_lesson_is_not_cancelled_either(student, admin, lesson, pay):
    payment = pay(student, lesson)
    refunds.process_refund(admin, payment.uuid, amount=100)
    db.session.commit()
    with pytest.raises(Conflict):
        bookings.cancel_booking(admin, lesson.id)


def test_an_unpaid_lesson_cancels_and_its_payment_in_progress_is_abandoned(
    student, lesson, localstripe
):
    step = intents.create_payment_intent(student, lesson.id)
    db.session.commit()
    bookings.cancel_booking(student, lesson.id)
    db.session.commit()

    payment = db.session.get(Payment, step.payment.id)
    assert payment.status == PaymentStatus.CANCELLED
    intent = localstripe.get(f"/v1/payment_intents/{payment.provider_payment_id}")
    assert intent["status"] == "canceled"
    assert db.session.get(type(lesson), lesson.id).status == BookingStatus.CANCELLED


def test_an_unpaid_lesson_without_a_payment_cancels_without_calling_stripe(student, lesson):
    bookings.cancel_booking(student, lesson.id)
    assert lesson.status == BookingStatus.CANCELLED
