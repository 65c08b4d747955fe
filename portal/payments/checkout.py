"""Paying a lesson on Stripe Checkout instead of the card form.

A Checkout payment is a `Payment` whose provider object is a Checkout Session; the
intent id is filled in once the session is paid. The student comes back to the return
page, which asks Stripe for the session's real state; `checkout.session.completed`
(webhook) runs `apply_checkout_session` too, and whichever is first records the success.
Switching between the card form and Checkout abandons the other attempt at Stripe first,
so a lesson never has two live ways to be charged.
"""

from __future__ import annotations

import logging
import re

import sqlalchemy as sa

from portal.accounts.models import User
from portal.bookings.models import Booking
from portal.errors import Conflict, NotFound
from portal.extensions import db
from portal.payments.models import COLLECTED_STATUSES, Payment, PaymentStatus
from portal.payments.services import (
    PaymentStep,
    abandon_pending_payment,
    check_payable,
    ensure_customer,
    lock_lesson_of,
    lock_payment,
    mark_payment_cancelled,
    mark_payment_succeeded,
    new_lesson_payment,
    pending_payment_for,
    provider_metadata,
    require_student,
)
from portal.providers import get_provider
from portal.providers.base import CheckoutLine, ProviderCheckoutSession, ProviderRejected

log = logging.getLogger(__name__)
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
    when = booking.starts_at.strftime("%d %b %Y, %H:%M UTC")
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


def sync_checkout_payment(payment: Payment) -> None:
    session = get_provider().retrieve_checkout_session(payment.provider_checkout_session_id)
    apply_checkout_session(payment, session)


def apply_checkout_session(
    payment: Payment, session: ProviderCheckoutSession, *, actor_id: int | None = None
) -> None:
    """Bring a Checkout payment in line with its session; repeating it changes nothing."""
    if session.id != payment.provider_checkout_session_id:
        raise ValueError(f"session {session.id} does not belong to payment {payment.uuid}")
    if session.is_paid:
        _check_session_matches(payment, session)
        if payment.provider_payment_id is None:
            payment.provider_payment_id = session.payment_intent
        mark_payment_succeeded(payment, actor_id=actor_id)
    elif session.status == "expired":
        mark_payment_cancelled(payment)
    elif payment.status == PaymentStatus.PENDING:
        payment.provider_status = session.status
        db.session.flush()


def _check_session_matches(payment: Payment, session: ProviderCheckoutSession) -> None:
    if session.amount_total != payment.amount or session.currency != payment.currency:
        log.error(
            "checkout session %s is %s %s but payment %s is %s %s",
            session.id,
            session.amount_total,
            session.currency,
            payment.uuid,
            payment.amount,
            payment.currency,
        )
        raise Conflict("The payment service reports a different amount; nothing was recorded.")


def expire_checkout_payment(payment: Payment) -> Payment:
    """Close a pending Checkout attempt at Stripe, or record it as paid if it was."""
    provider = get_provider()
    try:
        session = provider.expire_checkout_session(payment.provider_checkout_session_id)
    except ProviderRejected:
        session = provider.retrieve_checkout_session(payment.provider_checkout_session_id)
    apply_checkout_session(payment, session)
    payment = lock_payment(payment)
    if payment.status == PaymentStatus.PENDING:
        raise Conflict(
            "Your Checkout page for this lesson is still open. Finish or close it first.",
            code="checkout_open",
        )
    return payment
