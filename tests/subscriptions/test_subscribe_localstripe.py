"""Subscribing, cancelling, reactivating and ending a subscription against localstripe."""

from __future__ import annotations

import pytest

from portal.errors import Conflict, Forbidden, NotFound
from portal.extensions import db
from portal.invoices.models import InvoiceKind, InvoiceStatus
from portal.payments.cards import payment_methods_of
from portal.subscriptions import services
from portal.subscriptions.models import SubscriptionStatus
from tests import factories
from tests.subscriptions.stripe_support import (
    invoices,
    periods,
    stripe_subscriptions,
    subscriptions,
)
from tests.support.localstripe import DECLINED_AT_CHARGE

pytestmark = pytest.mark.stripe


def test_a_student_subscribes_and_the_first_invoice_opens_a_period(
    localstripe, stripe_plan, card_holder
):
    plan = stripe_plan(price=20000, lessons=4)
    student = card_holder()
    created = services.create_subscription(student, plan)
    db.session.commit()
    assert created.client_secret is None
    [sub] = subscriptions()
    assert sub.status == SubscriptionStatus.ACTIVE
    assert sub.provider_subscription_id.startswith("sub_")
    assert sub.current_period_start < sub.current_period_end
    at_stripe = localstripe.get(f"/v1/subscriptions/{sub.provider_subscription_id}")
    assert at_stripe["status"] == "active"
    assert at_stripe["metadata"]["subscription_uuid"] == str(sub.uuid)
    [period] = periods()
    assert (period.amount_paid, period.lessons_allowed, period.lessons_used) == (20000, 4, 0)
    assert period.provider_invoice_id == at_stripe["latest_invoice"]
    [invoice] = invoices()
    assert (invoice.kind, invoice.status, invoice.total) == (
        InvoiceKind.SUBSCRIPTION, InvoiceStatus.PAID, 20000)  # fmt: skip
    assert invoice.number.startswith("INV-") and invoice.subscription_id == sub.id
    assert invoice.provider_invoice_id == period.provider_invoice_id


def test_cancel_at_period_end_then_reactivate(localstripe, stripe_plan, card_holder):
    student = card_holder()
    services.create_subscription(student, stripe_plan())
    db.session.commit()
    sub = services.cancel_subscription(student)
    db.session.commit()
    stripe_id = sub.provider_subscription_id
    assert sub.cancel_at_period_end and sub.status == SubscriptionStatus.ACTIVE
    assert localstripe.get(f"/v1/subscriptions/{stripe_id}")["cancel_at_period_end"] is True
    with pytest.raises(Conflict) as twice:
        services.cancel_subscription(student)
    assert twice.value.code == "already_cancelling"
    db.session.rollback()
    sub = services.reactivate_subscription(student)
    db.session.commit()
    assert not sub.cancel_at_period_end
    assert localstripe.get(f"/v1/subscriptions/{stripe_id}")["cancel_at_period_end"] is False
    with pytest.raises(Conflict) as nothing:
        services.reactivate_subscription(student)
    assert nothing.value.code == "not_cancelling"


def test_cancel_now_ends_it_here_and_at_stripe_and_closes_the_period(
    localstripe, stripe_plan, card_holder
):
    student = card_holder()
    services.create_subscription(student, stripe_plan())
    db.session.commit()
    sub = services.cancel_subscription(student, immediately=True)
    db.session.commit()
    assert sub.status == SubscriptionStatus.CANCELED and sub.ended_at is not None
    at_stripe = localstripe.get(f"/v1/subscriptions/{sub.provider_subscription_id}")
    assert at_stripe["status"] == "canceled"
    [period] = periods()
    assert period.closed_at is not None
    assert services.current_subscription(student) is None
    with pytest.raises(NotFound):
        services.cancel_subscription(student)
    # A new subscription may start once the old one has ended.
    services.create_subscription(student, stripe_plan("monthly-8", lessons=8))
    db.session.commit()
    assert [s.status for s in subscriptions()] == ["canceled", "active"]


def test_a_declined_card_leaves_nothing_live_here_or_at_stripe(
    localstripe, stripe_plan, card_holder
):
    plan = stripe_plan()
    student = card_holder(DECLINED_AT_CHARGE)
    with pytest.raises(Conflict) as declined:
        services.create_subscription(student, plan)
    db.session.rollback()
    assert declined.value.code == "card_declined"
    assert subscriptions() == [] and periods() == [] and invoices() == []
    at_stripe = stripe_subscriptions(localstripe, student.stripe_customer_id)
    assert at_stripe and all(s["status"] == "canceled" for s in at_stripe)


def test_a_second_live_subscription_is_refused_before_stripe(localstripe, stripe_plan, card_holder):
    student = card_holder()
    services.create_subscription(student, stripe_plan())
    db.session.commit()
    with pytest.raises(Conflict) as second:
        services.create_subscription(student, stripe_plan("monthly-8", lessons=8))
    assert second.value.code == "already_subscribed"
    db.session.rollback()
    assert len(stripe_subscriptions(localstripe, student.stripe_customer_id)) == 1


def test_tutors_and_admins_do_not_subscribe(localstripe, stripe_plan):
    plan = stripe_plan()
    for role in ("tutor", "admin"):
        with pytest.raises(Forbidden):
            services.create_subscription(factories.UserFactory(role=role), plan)
    assert subscriptions() == []


def test_somebody_elses_card_is_not_found(localstripe, stripe_plan, card_holder):
    plan = stripe_plan()
    card_id = payment_methods_of(card_holder())[0].id
    with pytest.raises(NotFound):
        services.create_subscription(card_holder(), plan, payment_method_id=card_id)
    db.session.rollback()
    assert subscriptions() == []
