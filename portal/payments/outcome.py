"""The outcome of a payment attempt, as the provider reports it: succeeded, failed,
cancelled or abandoned.

The confirm call, the Checkout return page, the webhook and the sync task all end here,
and only the first of them changes anything. `mark_payment_succeeded` is the one success
path: it schedules the lesson and calls `effects.on_payment_succeeded` (the tutor's
earning, the invoice, the receipt, the audit log) in the same unit of work.

An intent's answer is applied by `apply_intent`, a Checkout Session's by
`apply_checkout_session` (which fills in the intent id once the session is paid). An
attempt abandoned here (the lesson cancelled, or the student switching between the card
form and Checkout) is cancelled at the provider first; if it turns out to have been
paid, the success is recorded instead. `settle_payments_before_cancel` is what the
booking's cancel paths call for that.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from portal.bookings.models import Booking, BookingStatus
from portal.db import utcnow
from portal.errors import Conflict
from portal.extensions import db
from portal.payments import effects
from portal.payments.lookups import lock_payment
from portal.payments.models import (
    COLLECTED_STATUSES,
    REFUNDABLE_STATUSES,
    Payment,
    PaymentStatus,
)
from portal.providers import get_provider
from portal.providers.base import ProviderCheckoutSession, ProviderIntent, ProviderRejected

log = logging.getLogger(__name__)


def apply_intent(payment: Payment, intent: ProviderIntent, *, actor_id: int | None = None) -> None:
    """Bring a payment in line with its provider intent; repeating it changes nothing."""
    if intent.id != payment.provider_payment_id:
        raise ValueError(f"intent {intent.id} does not belong to payment {payment.uuid}")
    if intent.status == "succeeded":
        mark_payment_succeeded(payment, intent, actor_id=actor_id)
    elif intent.status == "canceled":
        mark_payment_cancelled(payment)
    elif intent.status == "requires_payment_method" and intent.error_message:
        mark_payment_failed(
            payment, code=intent.error_code or "payment_failed", message=intent.error_message
        )
    elif payment.status == PaymentStatus.PENDING:
        payment.provider_status = intent.status
        db.session.flush()


def mark_payment_succeeded(
    payment: Payment, intent: ProviderIntent | None = None, *, actor_id: int | None = None
) -> bool:
    """The one success path: the lesson is scheduled, then the effects of the money follow.

    Returns False, changing nothing, when the payment already succeeded. Money the
    provider collected is recorded even if the attempt was marked failed or cancelled
    here first (a late webhook), and logged, since someone has to look at it.
    """
    payment = lock_payment(payment)
    if payment.status in COLLECTED_STATUSES:
        return False
    if intent is not None:
        _check_intent_matches(payment, intent)
        payment.provider_charge_id = intent.latest_charge
    previous = payment.status
    payment.status = PaymentStatus.SUCCEEDED
    payment.provider_status = "succeeded"
    payment.succeeded_at = utcnow()
    payment.failure_code = payment.failure_message = None
    _schedule_lesson(payment)
    db.session.flush()
    if previous != PaymentStatus.PENDING:
        log.warning("payment %s succeeded at the provider after being %s", payment.uuid, previous)
    effects.on_payment_succeeded(payment, actor_id=actor_id, previous_status=previous)
    return True


def _check_intent_matches(payment: Payment, intent: ProviderIntent) -> None:
    if intent.amount != payment.amount or intent.currency != payment.currency:
        log.error(
            "intent %s is %s %s but payment %s is %s %s",
            intent.id,
            intent.amount,
            intent.currency,
            payment.uuid,
            payment.amount,
            payment.currency,
        )
        raise Conflict("The payment service reports a different amount; nothing was recorded.")


def _schedule_lesson(payment: Payment) -> None:
    booking = payment.booking
    if booking is None:
        return
    if booking.status == BookingStatus.PENDING_PAYMENT:
        booking.status = BookingStatus.SCHEDULED
    elif booking.status == BookingStatus.CANCELLED:
        log.warning("payment %s succeeded for cancelled lesson %s", payment.uuid, booking.id)


def mark_payment_failed(payment: Payment, *, code: str, message: str) -> bool:
    """End a pending attempt as failed with the provider's reason; False if not pending."""
    payment = lock_payment(payment)
    if payment.status != PaymentStatus.PENDING:
        return False
    payment.status = PaymentStatus.FAILED
    payment.provider_status = "requires_payment_method"
    payment.failed_at = utcnow()
    payment.failure_code = (code or "payment_failed")[:64]
    payment.failure_message = (message or "The payment did not go through.")[:500]
    db.session.flush()
    effects.on_payment_failed(payment)
    return True


def mark_payment_cancelled(payment: Payment) -> bool:
    """End a pending attempt that was abandoned; False if not pending."""
    payment = lock_payment(payment)
    if payment.status != PaymentStatus.PENDING:
        return False
    payment.status = PaymentStatus.CANCELLED
    payment.provider_status = "canceled"
    payment.cancelled_at = utcnow()
    db.session.flush()
    return True


def abandon_pending_payment(payment: Payment) -> Payment:
    """Cancel a pending attempt at the provider and here (a lesson being cancelled, or the
    student switching between card and Checkout). If it turns out to have been paid, the
    success is recorded instead and the payment is returned as succeeded."""
    if payment.via_checkout:
        return expire_checkout_payment(payment)
    provider = get_provider()
    try:
        intent = provider.cancel_payment_intent(payment.provider_payment_id)
    except ProviderRejected:
        # Already paid, or already cancelled (an earlier abandon whose transaction rolled
        # back): either way its real state is what to record.
        intent = provider.retrieve_payment_intent(payment.provider_payment_id)
        if intent.status not in ("succeeded", "canceled"):
            raise
    apply_intent(payment, intent)
    return lock_payment(payment)


# Checkout Sessions


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


# A lesson being cancelled


def settle_payments_before_cancel(booking: Booking) -> None:
    """Refuse to cancel a paid lesson (a full refund cancels it); abandon a payment that is
    still in progress at the provider, recording its success instead if it went through.

    The booking's cancel paths call this with the lesson's row locked, before they change it.
    """
    payments = db.session.scalars(
        sa.select(Payment).where(
            Payment.booking_id == booking.id,
            Payment.status.in_((PaymentStatus.PENDING, *REFUNDABLE_STATUSES)),
        )
    ).all()
    for payment in payments:
        if payment.status == PaymentStatus.PENDING:
            payment = abandon_pending_payment(payment)
        if payment.status in COLLECTED_STATUSES and payment.status != PaymentStatus.REFUNDED:
            raise Conflict(
                "This lesson is paid. Ask for a refund on the billing page; "
                "a full refund cancels the lesson.",
                code="lesson_paid",
            )
