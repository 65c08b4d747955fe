"""What the admin's subscriptions page counts.

- Monthly recurring revenue: the plan price of every subscription that is paying now
  (active, or past due while Stripe retries), a yearly plan counted as a twelfth of its
  price. Trials are not revenue yet; a subscription cancelling at period end still is.
- Cancellations this month: subscriptions cancelled (now or at period end) since the
  first of this month, UTC, and not reactivated since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from portal.bookings.models import Booking
from portal.db import utcnow
from portal.extensions import db
from portal.invoices.models import Invoice
from portal.money import round_half_up
from portal.subscriptions.models import (
    LIVE_STATUSES,
    Plan,
    PlanInterval,
    Subscription,
    SubscriptionPeriod,
    SubscriptionStatus,
)

PAYING = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


@dataclass(frozen=True)
class Summary:
    by_status: dict[str, int]
    monthly_recurring_revenue: int
    cancellations_this_month: int


def filtered_subscriptions(*, status: str | None = None, plan_id: int | None = None) -> sa.Select:
    query = sa.select(Subscription).order_by(Subscription.created_at.desc(), Subscription.id.desc())
    if status:
        query = query.where(Subscription.status == status)
    if plan_id:
        query = query.where(Subscription.plan_id == plan_id)
    return query


def summary(now: datetime | None = None) -> Summary:
    now = now or utcnow()
    counts = dict(
        db.session.execute(
            sa.select(Subscription.status, sa.func.count()).group_by(Subscription.status)
        ).all()
    )
    by_status = {str(s): counts.get(str(s), 0) for s in SubscriptionStatus}
    prices = db.session.execute(
        sa.select(Plan.interval, sa.func.coalesce(sa.func.sum(Plan.price), 0))
        .join(Subscription, Subscription.plan_id == Plan.id)
        .where(Subscription.status.in_(PAYING))
        .group_by(Plan.interval)
    ).all()
    mrr = sum(
        round_half_up(Decimal(int(total)) / 12) if interval == PlanInterval.YEAR else int(total)
        for interval, total in prices
    )
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    cancelled = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Subscription)
        .where(
            Subscription.canceled_at >= month_start,
            sa.or_(
                Subscription.cancel_at_period_end.is_(True),
                Subscription.status.in_((SubscriptionStatus.CANCELED, SubscriptionStatus.EXPIRED)),
            ),
        )
    )
    return Summary(by_status, mrr, cancelled or 0)


def subscribers_by_plan() -> dict[int, int]:
    """Live subscriptions per plan id."""
    rows = db.session.execute(
        sa.select(Subscription.plan_id, sa.func.count())
        .where(Subscription.status.in_(LIVE_STATUSES))
        .group_by(Subscription.plan_id)
    ).all()
    return dict(rows)


def periods_of(subscription: Subscription) -> list[SubscriptionPeriod]:
    return list(
        db.session.scalars(
            sa.select(SubscriptionPeriod)
            .where(SubscriptionPeriod.subscription_id == subscription.id)
            .order_by(SubscriptionPeriod.starts_at.desc())
        )
    )


def invoices_of(subscription: Subscription) -> list[Invoice]:
    return list(
        db.session.scalars(
            sa.select(Invoice)
            .where(Invoice.subscription_id == subscription.id)
            .order_by(Invoice.created_at.desc())
        )
    )


def covered_lessons_of(subscription: Subscription) -> list[Booking]:
    return list(
        db.session.scalars(
            sa.select(Booking)
            .where(Booking.subscription_id == subscription.id)
            .order_by(Booking.starts_at.desc())
        )
    )
