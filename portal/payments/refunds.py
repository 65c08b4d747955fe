"""Refunds: a student's full refund before the cutoff, an admin's of any amount up to
what remains, and a refund made or failed at the provider (reported by webhook).

A refund that goes through is split into the platform's and the tutor's parts and
handed to `effects.on_payment_refunded`; one that fails later is undone and handed to
`effects.on_refund_reversed`. A full refund cancels the lesson.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from portal.accounts.models import Role, User
from portal.bookings.models import BookingStatus
from portal.db import utcnow
from portal.errors import Conflict, Forbidden, InvalidTransition, ValidationError
from portal.extensions import db
from portal.money import AmountError, FeeSplit, check_amount, format_money, split_refund
from portal.payments import effects
from portal.payments.lookups import KEY_NAMESPACE, get_payment_for, lock_payment, provider_metadata
from portal.payments.models import (
    REFUNDABLE_STATUSES,
    UNPAID_REFUND_STATUSES,
    Payment,
    PaymentStatus,
    PaymentType,
    Refund,
    RefundStatus,
)
from portal.providers import get_provider
from portal.providers.base import ProviderRefund
from portal.validation import check_request_key

MAX_REASON_LENGTH = 500


def process_refund(
    actor: User,
    payment_id: object,
    *,
    amount: object = None,
    reason: object = None,
    request_key: object = None,
) -> Refund:
    """Refund a payment through the provider.

    A student refunds a paid lesson in full until REFUND_CUTOFF_HOURS before it starts;
    an admin refunds any amount up to what remains. A full refund cancels the lesson.
    With a `request_key` (the refund form's hidden key) asking again returns the first
    refund: a double click refunds once. The API's `Idempotency-Key` is kept apart, by
    `portal.idempotency`.
    """
    if actor.role == Role.TUTOR:
        raise Forbidden("Tutors cannot refund payments; ask an admin.")
    payment = lock_payment(get_payment_for(actor, payment_id))
    key = None
    if request_key is not None:
        key = f"payment-{payment.uuid}-refund-{check_request_key(request_key)}"
        asked = db.session.scalar(sa.select(Refund).where(Refund.idempotency_key == key))
        if asked is not None:
            if amount is not None and amount != asked.amount:
                raise Conflict(
                    "That request key was used for another refund.", code="idempotency_conflict"
                )
            return asked
    check_refundable(payment)
    reason_text = _check_reason(reason)
    value = _refund_amount(actor, payment, amount)
    refund = new_refund(payment, value, reason_text, requested_by=actor, key=key)
    provider_refund = get_provider().create_refund(
        payment_intent=payment.provider_payment_id,
        amount=value,
        idempotency_key=refund.idempotency_key,
        metadata={**provider_metadata(payment), "refund_uuid": str(refund.uuid)},
    )
    apply_provider_refund(payment, provider_refund, refund=refund, actor_id=actor.id)
    return refund


def refund_preview(actor: User, payment: Payment, amount: int | None) -> FeeSplit:
    """What refunding `amount` (None: all that remains) would give back, checked as the
    refund itself would be: the platform's fee part and the tutor's share. Changes nothing."""
    check_refundable(payment)
    value = _refund_amount(actor, payment, amount)
    return split_refund(
        value,
        amount=payment.amount,
        fee=payment.platform_fee,
        refunded=payment.amount_refunded,
        fee_refunded=payment.fee_refunded,
    )


def check_refundable(payment: Payment) -> None:
    """Refuse a payment with nothing left to give back at the provider."""
    if payment.status == PaymentStatus.REFUNDED:
        message = "This payment has already been refunded in full."
    elif payment.status not in REFUNDABLE_STATUSES:
        message = "Only a payment that went through can be refunded."
    elif payment.provider_payment_id is None:
        message = NO_CHARGE
    else:
        return
    raise InvalidTransition(message, code="not_refundable")


# A payment recorded without the provider (the demo's) has no charge to refund.
NO_CHARGE = "This payment was recorded without the payment provider, so it has no charge to refund."


def _check_reason(reason: object) -> str:
    if reason is None:
        return ""
    if not isinstance(reason, str):
        raise ValidationError("reason must be text.", fields={"reason": ["Must be text."]})
    reason = reason.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise ValidationError(
            "The reason is too long.", fields={"reason": [f"At most {MAX_REASON_LENGTH} chars."]}
        )
    return reason


def _refund_amount(actor: User, payment: Payment, amount: object) -> int:
    if amount is not None:
        try:
            amount = check_amount(amount)
        except AmountError as exc:
            raise ValidationError(str(exc), fields={"amount": [str(exc)]}) from None
    if actor.role == Role.STUDENT:
        problem = student_refund_problem(payment, amount)
        if problem:
            raise InvalidTransition(problem, code="refund_not_allowed")
        return payment.amount
    if amount is None:
        return payment.remaining
    if amount > payment.remaining:
        message = f"At most {format_money(payment.remaining, payment.currency)} can be refunded."
        raise ValidationError(message, fields={"amount": [message]}, code="over_remaining")
    return amount


def student_refund_problem(payment: Payment, amount: int | None = None) -> str | None:
    """Why the student may not refund this payment now, or None if they may."""
    cutoff = current_app.config["REFUND_CUTOFF_HOURS"]
    booking = payment.booking
    if payment.payment_type != PaymentType.LESSON or booking is None:
        return "Only lesson payments can be refunded here."
    if payment.status != PaymentStatus.SUCCEEDED or payment.amount_refunded:
        return "This payment has already been refunded."
    if payment.provider_payment_id is None:
        return NO_CHARGE
    if amount is not None and amount != payment.amount:
        return "Lesson refunds are for the full amount."
    if booking.status != BookingStatus.SCHEDULED:
        return f"A {booking.status.replace('_', ' ')} lesson cannot be refunded."
    if booking.starts_at - utcnow() < timedelta(hours=cutoff):
        return (
            f"Lessons can be refunded in full until {cutoff} hours before they start; "
            "this one starts too soon."
        )
    return None


def new_refund(
    payment: Payment, amount: int, reason: str, *, requested_by: User | None, key: str | None = None
) -> Refund:
    """A pending refund row; its key (and uuid) is the request's, or else follows from the
    payment's refund count."""
    if key is None:
        count = db.session.scalar(
            sa.select(sa.func.count()).select_from(Refund).where(Refund.payment_id == payment.id)
        )
        key = f"payment-{payment.uuid}-refund-{count + 1}"
    refund = Refund(
        uuid=uuid.uuid5(KEY_NAMESPACE, key),
        payment_id=payment.id,
        amount=amount,
        currency=payment.currency,
        status=RefundStatus.PENDING,
        reason=reason,
        idempotency_key=key,
        requested_by_id=requested_by.id if requested_by else None,
    )
    db.session.add(refund)
    db.session.flush()
    return refund


def apply_provider_refund(
    payment: Payment,
    provider_refund: ProviderRefund,
    *,
    refund: Refund | None = None,
    actor_id: int | None = None,
) -> Refund:
    """Record a provider refund once: split it, update the payment, then its effects.

    `refund` is our row when we asked for it; a refund made elsewhere (the provider's
    dashboard, reported by webhook) gets a row here. Seeing the same provider refund
    again changes nothing.
    """
    payment = lock_payment(payment)
    status = refund_status(provider_refund.status)
    # Read again under the payment's lock: a copy loaded earlier may predate another
    # worker's change to the same refund.
    known = db.session.scalar(
        sa.select(Refund)
        .where(Refund.provider_refund_id == provider_refund.id)
        .execution_options(populate_existing=True)
    )
    if known is not None:
        _follow_refund(payment, known, status, actor_id=actor_id)
        return known
    if refund is None:
        refund = new_refund(
            payment, provider_refund.amount, "Refunded at the payment provider", requested_by=None
        )
    refund.provider_refund_id = provider_refund.id
    refund.status = status
    if status in UNPAID_REFUND_STATUSES:
        refund.failed_at = utcnow()
        db.session.flush()
        return refund
    _book_refund(payment, refund, provider_refund.amount)
    db.session.flush()
    effects.on_payment_refunded(payment, refund, actor_id=actor_id)
    return refund


def refund_status(value: str) -> RefundStatus:
    """The provider's refund status in our terms: one waiting for the payer's bank
    (Stripe's `requires_action`) is still pending."""
    try:
        return RefundStatus(value)
    except ValueError:
        return RefundStatus.PENDING


def _follow_refund(payment: Payment, refund: Refund, status: RefundStatus, *, actor_id) -> None:
    """A refund we recorded moved on at the provider: it went through, or it failed.

    Failed and canceled are final at the provider. A recorded refund that fails is
    undone: the payment counts it no longer and the tutor gets their share back
    (`effects.on_refund_reversed`). A lesson the refund cancelled stays cancelled; the
    payer is still owed the money, which an admin refunds again from the payment's page.
    """
    if refund.status == status or refund.status in UNPAID_REFUND_STATUSES:
        return
    if refund.status == RefundStatus.SUCCEEDED and status == RefundStatus.PENDING:
        return  # a stale list read before the success was recorded
    refund.status = status
    if status not in UNPAID_REFUND_STATUSES:
        db.session.flush()
        return
    refund.failed_at = utcnow()
    # Safe read-modify-write: the payment row is locked (lock_payment).
    payment.amount_refunded -= refund.amount
    payment.fee_refunded -= refund.fee_part
    payment.status = (
        PaymentStatus.PARTIALLY_REFUNDED if payment.amount_refunded else PaymentStatus.SUCCEEDED
    )
    db.session.flush()
    effects.on_refund_reversed(payment, refund, actor_id=actor_id)


def _book_refund(payment: Payment, refund: Refund, amount: int) -> None:
    if amount != refund.amount:
        raise Conflict("The payment service refunded a different amount; nothing was recorded.")
    try:
        split = split_refund(
            amount,
            amount=payment.amount,
            fee=payment.platform_fee,
            refunded=payment.amount_refunded,
            fee_refunded=payment.fee_refunded,
        )
    except ValueError:
        raise Conflict("That is more than remains of the payment.", code="over_remaining") from None
    refund.fee_part, refund.net_part = split.fee, split.net
    # Safe read-modify-write: the payment row is locked (lock_payment).
    payment.amount_refunded += amount
    payment.fee_refunded += split.fee
    payment.refunded_at = utcnow()
    if payment.remaining == 0:
        payment.status = PaymentStatus.REFUNDED
        _cancel_lesson_after_refund(payment)
    else:
        payment.status = PaymentStatus.PARTIALLY_REFUNDED


def _cancel_lesson_after_refund(payment: Payment) -> None:
    booking = payment.booking
    if booking is not None and booking.status in (
        BookingStatus.PENDING_PAYMENT,
        BookingStatus.SCHEDULED,
    ):
        booking.status = BookingStatus.CANCELLED
        booking.cancelled_at = utcnow()
