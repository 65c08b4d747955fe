"""Payment attempts left pending at Stripe: cancelled there and here after a while.

A student who opens the card form and walks away leaves a PaymentIntent waiting for a
card at Stripe and a `pending` payment here. An unpaid lesson's attempt ends with the
lesson when its hold runs out (`bookings.services.expire_unpaid_booking`); anything
still pending `PAYMENT_INTENT_EXPIRY_HOURS` after it was made (an attempt whose lesson
expiry could not reach Stripe, an attempt without a lesson) is cancelled by the daily
`cleanup_expired_payment_intents`. Both go through `outcome.abandon_pending_payment`:
Stripe is asked to cancel first, and an attempt that turns out to have been paid is
recorded as paid instead, through the one success path.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from portal.extensions import db
from portal.payments.lookups import lock_payment
from portal.payments.models import Payment, PaymentStatus
from portal.payments.outcome import abandon_pending_payment

EXPIRY_BATCH = 500


def expired_attempt_ids(now: datetime) -> list[int]:
    """Pending attempts older than `PAYMENT_INTENT_EXPIRY_HOURS`, oldest first."""
    cutoff = now - timedelta(hours=current_app.config["PAYMENT_INTENT_EXPIRY_HOURS"])
    return list(
        db.session.scalars(
            sa.select(Payment.id)
            .where(Payment.status == PaymentStatus.PENDING, Payment.created_at < cutoff)
            .order_by(Payment.created_at, Payment.id)
            .limit(EXPIRY_BATCH)
        )
    )


def cancel_expired_attempt(payment_id: int) -> str:
    """Cancel one pending attempt at the provider and here; what became of it.

    Returns the payment's status afterwards (`cancelled`, or `succeeded` when Stripe had
    been paid meanwhile), or `already settled` when it was no longer pending. A Checkout
    page still open at Stripe refuses (Conflict) and is left for the next run.
    """
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        return "already settled"
    payment = lock_payment(payment)
    if payment.status != PaymentStatus.PENDING:
        return "already settled"
    return abandon_pending_payment(payment).status
