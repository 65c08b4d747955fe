"""The recorded Stripe subscription (tests/recorded/stripe): its ids, its two plans as
rows here, and a student subscribed through it.

The fixtures are imported by the package's conftest.
"""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.subscriptions import services
from portal.subscriptions.models import Plan

SUB = "sub_1QbX7vKx3oV2nQeRsubscr01"
P4, P8 = "price_1QZr8mKx3oV2nQeR7monthly4", "price_1QZr9aKx3oV2nQeR8monthly8"


def recorded_plan(slug: str, price_id: str, price: int, lessons: int, trial_days: int = 0) -> Plan:
    plan = Plan(
        slug=slug,
        name=slug.replace("-", " ").title(),
        price=price,
        currency="usd",
        interval="month",
        lessons_per_month=lessons,
        trial_days=trial_days,
        features=[],
        provider_product_id=f"prod_{slug}",
        provider_price_id=price_id,
    )
    db.session.add(plan)
    db.session.commit()
    return plan


@pytest.fixture
def four(stripe_replay):
    return recorded_plan("four-a-month", P4, 16000, 4, trial_days=7)


@pytest.fixture
def eight(stripe_replay):
    return recorded_plan("eight-a-month", P8, 30000, 8)


def subscribed(replay, plan, card_holder, fixture="subscription_active"):
    """A student with a saved card, subscribed to `plan` as Stripe answers `fixture`."""
    replay.answer("POST", "/v1/subscriptions", fixture)
    student = card_holder()
    created = services.create_subscription(student, plan)
    db.session.commit()
    return student, created
