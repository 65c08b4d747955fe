"""Money events of other features, appended to the audit log.

Payments change state in several places (the confirm call, the webhook, the sync task,
a refund by a student or an admin); their signals are the one place all of them pass,
so the log hangs on those. Each row is added in the sender's unit of work.
"""

from __future__ import annotations

from portal.audit.services import record
from portal.payments.signals import (
    payment_failed,
    payment_refunded,
    payment_succeeded,
    refund_reversed,
)


def _money(payment) -> dict:
    return {
        "amount": payment.amount,
        "currency": payment.currency,
        "platform_fee": payment.platform_fee,
        "amount_refunded": payment.amount_refunded,
    }


@payment_succeeded.connect
def payment_succeeded_logged(payment, actor_id: int | None = None, **_) -> None:
    record(
        "payment.succeeded",
        object_type="payment",
        object_id=payment.uuid,
        actor_id=actor_id,
        before={"status": "pending"},
        after={"status": payment.status, **_money(payment)},
    )


@payment_failed.connect
def payment_failed_logged(payment, **_) -> None:
    record(
        "payment.failed",
        object_type="payment",
        object_id=payment.uuid,
        after={"status": payment.status, "failure_code": payment.failure_code, **_money(payment)},
    )


@payment_refunded.connect
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


@refund_reversed.connect
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
