"""Plans for tests: rows made directly (pages and quotas need no Stripe objects)."""

from __future__ import annotations

from portal.extensions import db
from portal.subscriptions.models import Plan


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
        provider_price_id=f"plan_{slug}",
        is_active=active,
        **values,
    )
    db.session.add(plan)
    db.session.commit()
    return plan
