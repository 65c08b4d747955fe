"""Plans and subscriptions for tests: rows made directly (pages need no Stripe objects)."""

from __future__ import annotations

from datetime import timedelta

from portal.db import utcnow
from portal.extensions import db
from portal.subscriptions.models import Plan, Subscription


def make_plan(slug="monthly-4", *, price=20000, lessons=4, active=True, **values) -> Plan:
    plan = Plan(
        slug=slug,
        name=values.pop("name", slug.replace("-", " ").title()),
        price=price,
        currency="usd",
        interval=values.pop("interval", "month"),
        lessons_per_month=lessons,
        trial_days=values.pop("trial_days", 0),
        features=values.pop("features", ["Any tutor", "Cancel any time"]),
        provider_product_id=f"prod_{slug}",
        provider_price_id=values.pop("provider_price_id", f"plan_{slug}"),
        is_active=active,
        **values,
    )
    db.session.add(plan)
    db.session.commit()
    return plan


def make_subscription(student, plan, status="active", **values) -> Subscription:
    """A subscription row as the Stripe sync leaves it, one period under way."""
    now = utcnow()
    subscription = Subscription(
        student_id=student.id,
        plan_id=plan.id,
        status=status,
        current_period_start=values.pop("current_period_start", now - timedelta(days=3)),
        current_period_end=values.pop("current_period_end", now + timedelta(days=27)),
        provider_subscription_id=values.pop("provider_subscription_id", None),
        **values,
    )
    db.session.add(subscription)
    db.session.commit()
    return subscription
