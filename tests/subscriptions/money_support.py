"""Plans, subscriptions and the books of subscription money, for the quota and money tests."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from portal.db import utcnow
from portal.extensions import db
from portal.ledger.accounts import platform_balances
from portal.subscriptions.models import Plan, Subscription, SubscriptionStatus
from portal.subscriptions.periods import open_period

_plans = iter(range(1, 10**9))


def make_plan(price: int = 20000, lessons: int = 3) -> Plan:
    n = next(_plans)
    plan = Plan(
        slug=f"plan-{n}",
        name=f"Plan {n}",
        price=price,
        currency="usd",
        lessons_per_month=lessons,
        provider_price_id=f"price_test_{n}_{price}_{lessons}",
    )
    db.session.add(plan)
    db.session.flush()
    return plan


def subscribe(student, plan: Plan, *, status=SubscriptionStatus.ACTIVE, paid: int | None = None,
              invoice: str | None = None) -> Subscription:  # fmt: skip
    """A live subscription with its first period opened (paid `plan.price` unless told)."""
    subscription = Subscription(student_id=student.id, plan_id=plan.id, status=status)
    db.session.add(subscription)
    db.session.flush()
    renew(subscription, paid=plan.price if paid is None else paid, invoice=invoice)
    db.session.commit()
    return subscription


def renew(subscription: Subscription, *, paid: int, invoice: str | None = None, days: int = 0):
    starts = utcnow().replace(microsecond=0) + timedelta(days=days)
    if subscription.current_period_end and subscription.current_period_end > starts:
        starts = subscription.current_period_end
    return open_period(
        subscription,
        starts_at=starts,
        ends_at=starts + timedelta(days=30),
        amount_paid=paid,
        currency="usd",
        provider_invoice_id=invoice,
    )


def balances() -> dict[str, int]:
    """Platform accounts as people read them (liabilities and revenue positive)."""
    return {account.code: balance for account, balance in platform_balances()}


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))
