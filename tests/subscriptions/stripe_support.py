"""Subscriptions at localstripe: a plan made through the plans service (a Plan there), a
student with a saved card, and reading what Stripe holds.

Import the fixtures into a test module (`from tests.subscriptions.stripe_support import
...  # noqa: F401`).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.invoices.models import Invoice
from portal.payments.cards import add_payment_method
from portal.subscriptions import plans
from portal.subscriptions.models import Subscription, SubscriptionPeriod
from tests import factories
from tests.support.localstripe import VISA


@pytest.fixture
def stripe_plan(localstripe):
    """`stripe_plan(slug, price, lessons)` → a plan made here and at localstripe."""

    def _plan(slug="monthly-4", price=20000, lessons=4, **values):
        plan = plans.create_plan(slug, slug.replace("-", " ").title(), price, lessons, **values)
        db.session.commit()
        return plan

    return _plan


@pytest.fixture
def card_holder(localstripe):
    """`card_holder(number=VISA)` → a student with that card saved (the default)."""

    def _student(number=VISA, student=None):
        student = student or factories.UserFactory(role="student")
        add_payment_method(student, localstripe.token(number))
        db.session.commit()
        return student

    return _student


def stripe_subscriptions(localstripe, customer: str) -> list[dict]:
    """The customer's subscriptions at localstripe, ended ones included."""
    return localstripe.get("/v1/subscriptions", customer=customer, status="all")["data"]


def rows(model) -> list:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(model).order_by(model.id)))


def subscriptions() -> list[Subscription]:
    return rows(Subscription)


def periods() -> list[SubscriptionPeriod]:
    return rows(SubscriptionPeriod)


def invoices() -> list[Invoice]:
    return rows(Invoice)
