"""Paying a lesson on Stripe Checkout instead of the card form.

A Checkout payment is a `Payment` whose provider object is a Checkout Session; the
intent id is filled in once the session is paid. The student comes back to the return
page, which asks Stripe for the session's real state; `checkout.session.completed`
(webhook) does the same, and whichever is first records the success
(`outcome.apply_checkout_session`). Switching between the card form and Checkout
abandons the other attempt at Stripe first, so a lesson never has two live ways to be
charged.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from portal.accounts.models import User
from portal.bookings.models import Booking
from portal.dates import format_local
from portal.errors import NotFound
from portal.extensions import db
from portal.payments.customers import ensure_customer
from portal.payments.intents import PaymentStep, check_payable, new_lesson_payment
from portal.payments.lookups import (
    lock_lesson_of,
    lock_payment,
    pending_payment_for,
    provider_metadata,
    require_student,
)
from portal.payments.models import COLLECTED_STATUSES, Payment, PaymentStatus
from portal.payments.outcome import (
    abandon_pending_payment,
    apply_checkout_session,
    sync_checkout_payment,
)
from portal.providers import get_provider
from portal.providers.base import CheckoutLine

_SESSION_RE = re.compile(r"^cs_[A-Za-z0-9_]{1,250}$")


def start_checkout(
    student: User, booking_id: object, *, success_url: str, cancel_url: str
) -> PaymentStep:
    """A Checkout Session for the lesson's price; `redirect_url` is where to send the student.

    An open session for the lesson is reused; an attempt with the card form is cancelled.
    If the lesson turns out to be paid already, the step has no redirect.
    """
    require_student(student)
    booking = lock_lesson_of(student, booking_id)
    check_payable(booking)
    pending = pending_payment_for(booking.id)
    if pending is not None and pending.via_checkout:
        session = get_provider().retrieve_checkout_session(pending.provider_checkout_session_id)
        if session.status == "open" and session.url:
            return PaymentStep(pending, redirect_url=session.url)
        apply_checkout_session(pending, session)
    elif pending is not None:
        pending = abandon_pending_payment(pending)
    if pending is not None and pending.status in COLLECTED_STATUSES:
        return PaymentStep(pending)
    return _new_session(student, booking, success_url, cancel_url)


def _new_session(student: User, booking: Booking, success_url: str, cancel_url: str):
    payment = new_lesson_payment(student, booking, way="checkout")
    session = get_provider().create_checkout_session(
        mode="payment",
        customer=ensure_customer(student),
        lines=[
            CheckoutLine(
                name=lesson_title(booking), amount=payment.amount, currency=payment.currency
            )
        ],
        success_url=success_url,
        cancel_url=cancel_url,
        idempotency_key=payment.idempotency_key,
        client_reference_id=str(payment.uuid),
        metadata=provider_metadata(payment),
    )
    payment.provider_checkout_session_id = session.id
    payment.provider_status = session.status
    db.session.flush()
    return PaymentStep(payment, redirect_url=session.url, created=True)


def lesson_title(booking: Booking) -> str:
    when = format_local(booking.starts_at, "short", tz=booking.student.time_zone)
    return f"Lesson with {booking.tutor.name}, {when} ({booking.duration_minutes} min)"


def complete_checkout(user: User, session_id: object) -> Payment:
    """The return page: the student's payment for that session, brought up to date."""
    if not isinstance(session_id, str) or not _SESSION_RE.match(session_id):
        raise NotFound("No such Checkout payment.")
    payment = db.session.scalar(
        sa.select(Payment).where(
            Payment.provider_checkout_session_id == session_id, Payment.payer_id == user.id
        )
    )
    if payment is None:
        raise NotFound("No such Checkout payment.")
    payment = lock_payment(payment)
    if payment.status == PaymentStatus.PENDING:
        sync_checkout_payment(payment)
    return payment
