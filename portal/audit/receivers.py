"""Money events of other features (payments, admins' wallet adjustments), appended to
the audit log.

Payments change state in several places (the confirm call, the webhook, the sync task,
a refund by a student or an admin); their effects (`portal/payments/effects.py`) are the
one place all of them pass, and those send the payment signals the log hangs on. The app
factory calls `connect`; each row is added in the sender's unit of work.
"""

from __future__ import annotations

from portal.audit.services import record
from portal.payments.signals import (
    payment_failed,
    payment_refunded,
    payment_succeeded,
    refund_reversed,
)
from portal.wallets.signals import wallet_adjusted


def _money(payment) -> dict:
    return {
        "amount": payment.amount,
        "currency": payment.currency,
        "platform_fee": payment.platform_fee,
        "amount_refunded": payment.amount_refunded,
    }


def payment_succeeded_logged(payment, actor_id: int | None = None, **_) -> None:
    record(
        "payment.succeeded",
        object_type="payment",
        object_id=payment.uuid,
        actor_id=actor_id,
        before={"status": "pending"},
        after={"status": payment.status, **_money(payment)},
    )


def payment_failed_logged(payment, **_) -> None:
    record(
        "payment.failed",
        object_type="payment",
        object_id=payment.uuid,
        after={"status": payment.status, "failure_code": payment.failure_code, **_money(payment)},
    )


def payment_refunded_logged(payment, refund, actor_id: int | None = None, **_) -> None:
    record(
        "payment.refunded",
        object_type="payment",
        object_id=payment.uuid,
        actor_id=actor_id,
        before={"amount_refunded": payment.amount_refunded - refund.amount},
        after={
            "status": payment.status,
            "refund": refund.amount,
            "refund_fee_part": refund.fee_part,
            "reason": refund.reason,
            **_money(payment),
        },
    )


def refund_reversed_logged(payment, refund, actor_id: int | None = None, **_) -> None:
    record(
        "payment.refund_failed",
        object_type="payment",
        object_id=payment.uuid,
        actor_id=actor_id,
        before={"amount_refunded": payment.amount_refunded + refund.amount},
        after={
            "status": payment.status,
            "refund": refund.amount,
            "refund_status": refund.status,
            "provider_refund_id": refund.provider_refund_id,
            **_money(payment),
        },
    )


def wallet_adjusted_logged(line, tutor_id: int, actor_id: int | None = None, **_) -> None:
    record(
        "wallet.credited" if line.amount > 0 else "wallet.debited",
        object_type="wallet",
        object_id=tutor_id,
        actor_id=actor_id,
        before={"available": line.available_after - line.available_change},
        after={
            "amount": line.amount,
            "reason": line.description,
            "available": line.available_after,
        },
    )


def connect() -> None:
    """Log the payment and wallet signals; connecting twice (a second app) changes nothing."""
    wallet_adjusted.connect(wallet_adjusted_logged)
    payment_succeeded.connect(payment_succeeded_logged)
    payment_failed.connect(payment_failed_logged)
    payment_refunded.connect(payment_refunded_logged)
    refund_reversed.connect(refund_reversed_logged)
