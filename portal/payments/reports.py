"""The admin's view of payments: a filtered list and platform totals for a date range.

Volume and fees count payments by when they succeeded; refunds by when they were made
(a refund in March of a February payment is March's). Net fees are the fees kept after
the fee part of refunds went back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from portal.accounts.models import User
from portal.extensions import db
from portal.payments.models import (
    COLLECTED_STATUSES,
    UNPAID_REFUND_STATUSES,
    Payment,
    Refund,
    RefundStatus,
)

# Refunds that moved (or are moving) money back; failed or cancelled ones did not.
COUNTED_REFUNDS = (RefundStatus.PENDING, RefundStatus.SUCCEEDED)


@dataclass(frozen=True)
class PlatformTotals:
    payments: int
    volume: int
    fees: int
    refund_count: int
    refunds: int
    fees_refunded: int

    @property
    def net_volume(self) -> int:
        return self.volume - self.refunds

    @property
    def net_fees(self) -> int:
        return self.fees - self.fees_refunded


def day_range(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """UTC bounds for whole days, `end` included."""
    low = datetime.combine(start, time.min, tzinfo=UTC) if start else None
    high = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC) if end else None
    return low, high


def _between(column, low: datetime | None, high: datetime | None) -> list:
    conditions = []
    if low is not None:
        conditions.append(column >= low)
    if high is not None:
        conditions.append(column < high)
    return conditions


def platform_totals(low: datetime | None = None, high: datetime | None = None) -> PlatformTotals:
    paid = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(Payment.amount), 0),
            sa.func.coalesce(sa.func.sum(Payment.platform_fee), 0),
        ).where(Payment.status.in_(COLLECTED_STATUSES), *_between(Payment.succeeded_at, low, high))
    ).one()
    refunded = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(Refund.amount), 0),
            sa.func.coalesce(sa.func.sum(Refund.fee_part), 0),
        ).where(Refund.status.in_(COUNTED_REFUNDS), *_between(Refund.created_at, low, high))
    ).one()
    return PlatformTotals(
        payments=paid[0],
        volume=int(paid[1]),
        fees=int(paid[2]),
        refund_count=refunded[0],
        refunds=int(refunded[1]),
        fees_refunded=int(refunded[2]),
    )


# The newest failed refunds shown to admins: each payer is still owed that money.
FAILED_REFUNDS_SHOWN = 10


def failed_refunds(limit: int = FAILED_REFUNDS_SHOWN) -> list[Refund]:
    """Refunds the provider could not pay out, newest failure first, with their payment and
    payer, until refunds of the same payment made after the failure come to as much."""
    later = so.aliased(Refund)
    made_good = (
        sa.select(sa.func.coalesce(sa.func.sum(later.amount), 0))
        .where(
            later.payment_id == Refund.payment_id,
            later.created_at > Refund.failed_at,
            later.status.in_(COUNTED_REFUNDS),
        )
        .correlate(Refund)
        .scalar_subquery()
    )
    return list(
        db.session.scalars(
            sa.select(Refund)
            .options(so.joinedload(Refund.payment).joinedload(Payment.payer))
            .where(Refund.status.in_(UNPAID_REFUND_STATUSES), made_good < Refund.amount)
            .order_by(Refund.failed_at.desc(), Refund.id.desc())
            .limit(limit)
        )
    )


def filtered_payments(
    *,
    status: str | None = None,
    payment_type: str | None = None,
    low: datetime | None = None,
    high: datetime | None = None,
    tutor_id: int | None = None,
    student_email: str | None = None,
) -> sa.Select:
    """Every payment matching the admin's filters, newest first (dates are creation dates)."""
    query = (
        sa.select(Payment)
        .options(so.joinedload(Payment.payer), so.joinedload(Payment.recipient))
        .order_by(Payment.created_at.desc(), Payment.id.desc())
    )
    if status:
        query = query.where(Payment.status == status)
    if payment_type:
        query = query.where(Payment.payment_type == payment_type)
    if tutor_id:
        query = query.where(Payment.recipient_id == tutor_id)
    if student_email:
        email = student_email.strip().lower()
        payer = sa.select(User.id).where(User.email.contains(email, autoescape=True))
        query = query.where(Payment.payer_id.in_(payer))
    return query.where(*_between(Payment.created_at, low, high))
