"""What payments do when other things happen, and what happens when payments do.

- A lesson payment succeeds → the tutor's net goes into pending through the ledger.
- A payment is refunded → the tutor's share of the refund comes back out.
- A refund fails at the provider → that share goes back to the tutor.
- A lesson is about to be cancelled → refused while it is paid (the refund cancels it);
  a payment still in progress is abandoned at the provider first.

Receivers run inside the sender's unit of work; the ledger calls are idempotent by key,
so a repeated success or refund can never post twice.
"""

from __future__ import annotations

import sqlalchemy as sa

from portal.bookings.models import Booking
from portal.bookings.signals import booking_cancelled
from portal.errors import Conflict
from portal.extensions import db
from portal.payments.models import (
    COLLECTED_STATUSES,
    REFUNDABLE_STATUSES,
    Payment,
    PaymentStatus,
    PaymentType,
    Refund,
)
from portal.payments.services import abandon_pending_payment
from portal.payments.signals import payment_refunded, payment_succeeded, refund_reversed
from portal.wallets.earnings import process_lesson_earning
from portal.wallets.refunds import process_refund_deduction, reverse_refund_deduction

# Ledger memos are at most this long.
MEMO_LENGTH = 255


def earning_key(payment: Payment) -> str:
    return f"payment:{payment.uuid}:captured"


def refund_key(refund: Refund) -> str:
    return f"refund:{refund.provider_refund_id or refund.uuid}"


@payment_succeeded.connect
def record_lesson_earning(payment: Payment, actor_id: int | None = None, **_) -> None:
    if payment.payment_type != PaymentType.LESSON or payment.recipient_id is None:
        return
    process_lesson_earning(
        tutor_id=payment.recipient_id,
        gross=payment.amount,
        fee=payment.platform_fee,
        idempotency_key=earning_key(payment),
        booking_id=payment.booking_id,
        payment_id=payment.id,
        actor_id=actor_id,
        memo=f"Paid by {payment.payer.name}"[:MEMO_LENGTH],
    )


@payment_refunded.connect
def deduct_refund(payment: Payment, refund: Refund, actor_id: int | None = None, **_) -> None:
    if payment.payment_type != PaymentType.LESSON or payment.recipient_id is None:
        return
    process_refund_deduction(
        tutor_id=payment.recipient_id,
        refund=refund.amount,
        fee_part=refund.fee_part,
        idempotency_key=refund_key(refund),
        payment_id=payment.id,
        booking_id=payment.booking_id,
        actor_id=actor_id,
        memo=_refund_memo(payment, refund),
    )


@refund_reversed.connect
def restore_refund_deduction(
    payment: Payment, refund: Refund, actor_id: int | None = None, **_
) -> None:
    if payment.payment_type != PaymentType.LESSON or payment.recipient_id is None:
        return
    reverse_refund_deduction(
        tutor_id=payment.recipient_id,
        refund_key=refund_key(refund),
        idempotency_key=f"{refund_key(refund)}:reversed",
        actor_id=actor_id,
        memo=f"Refund to {payment.payer.name} failed: your share is back"[:MEMO_LENGTH],
    )


def _refund_memo(payment: Payment, refund: Refund) -> str:
    memo = f"Refund to {payment.payer.name}"
    return (f"{memo}: {refund.reason}" if refund.reason else memo)[:MEMO_LENGTH]


@booking_cancelled.connect
def settle_payments_before_cancel(booking: Booking, **_) -> None:
    """Refuse to cancel a paid lesson; abandon a payment that is still in progress."""
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
