"""Subscription and invoice events: localstripe's own, and signed ones made here to test
order, duplicates and incomplete objects."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.subscriptions import leftovers, services
from portal.subscriptions.models import Subscription, SubscriptionStatus
from portal.webhooks.models import EventStatus, WebhookEvent
from tests.subscriptions.stripe_support import card_holder, invoices, periods, stripe_plan
from tests.support.ledger import assert_ledger_ok
from tests.support.localstripe import THREE_D_SECURE
from tests.webhooks.conftest import event_body, stored
from tests.webhooks.test_localstripe_delivery import _handled, _wait_for, stripe_webhooks
from tests.webhooks.test_webhook_races import _post_together

pytestmark = pytest.mark.stripe
# Fixtures shared with the subscription tests.
__all__ = ["card_holder", "stripe_plan", "stripe_webhooks"]


def _subscribed(stripe_plan, card_holder, number=None):  # noqa: F811
    student = card_holder(number) if number else card_holder()
    created = services.create_subscription(student, stripe_plan())
    db.session.commit()
    return student, created


def _stripe_sub(localstripe, sub: Subscription) -> dict:
    return localstripe.get(f"/v1/subscriptions/{sub.provider_subscription_id}")


def _stripe_invoice(localstripe, sub: Subscription) -> dict:
    return localstripe.get(f"/v1/invoices/{_stripe_sub(localstripe, sub)['latest_invoice']}")


def _reload(sub: Subscription) -> Subscription:
    db.session.expire_all()
    return db.session.get(Subscription, sub.id)


def test_localstripes_webhooks_about_a_new_subscription_are_applied_once(
    stripe_webhooks,
    localstripe,
    stripe_plan,
    card_holder,  # noqa: F811
):
    _, created = _subscribed(stripe_plan, card_holder)
    sub = created.subscription
    stripe_id, invoice_id = sub.provider_subscription_id, periods()[0].provider_invoice_id
    for type_, object_id in (
        ("customer.subscription.created", stripe_id),
        ("invoice.payment_succeeded", invoice_id),
    ):
        event = _wait_for(lambda t=type_, o=object_id: _handled(t, o))
        assert event.status == EventStatus.PROCESSED, event.last_error
    intent_id = _stripe_invoice(localstripe, sub)["payment_intent"]
    intent_event = _wait_for(lambda: _handled("payment_intent.succeeded", intent_id))
    assert intent_event.status == EventStatus.PROCESSED, intent_event.last_error
    assert _reload(sub).status == SubscriptionStatus.ACTIVE
    assert len(periods()) == 1 and len(invoices()) == 1


def test_3d_secure_first_payment_completes_by_webhook(
    stripe_webhooks,
    localstripe,
    stripe_plan,
    card_holder,  # noqa: F811
):
    student, created = _subscribed(stripe_plan, card_holder, THREE_D_SECURE)
    sub = created.subscription
    assert sub.status == SubscriptionStatus.INCOMPLETE and created.client_secret
    invoice_id = sub.open_provider_invoice_id
    assert invoice_id and periods() == []
    localstripe.authenticate(created.client_secret)  # Stripe.js in the page
    event = _wait_for(lambda: _handled("invoice.payment_succeeded", invoice_id))
    assert event.status == EventStatus.PROCESSED, event.last_error
    sub = _reload(sub)
    assert sub.status == SubscriptionStatus.ACTIVE and sub.open_provider_invoice_id is None
    assert len(periods()) == 1 and len(invoices()) == 1


def test_an_older_event_arriving_late_changes_nothing(
    deliver,
    localstripe,
    stripe_plan,
    card_holder,  # noqa: F811
):
    student, created = _subscribed(stripe_plan, card_holder)
    sub = created.subscription
    now = int(time.time()) + 5
    newer = {**_stripe_sub(localstripe, sub), "cancel_at_period_end": True}
    older = {**newer, "cancel_at_period_end": False}
    deliver(event_body("customer.subscription.updated", newer, event_id="evt_new", created=now))
    assert _reload(sub).cancel_at_period_end
    deliver(event_body("customer.subscription.updated", older, event_id="evt_old", created=now - 3))
    assert stored("evt_old").status == EventStatus.PROCESSED
    assert "older" in stored("evt_old").result
    assert _reload(sub).cancel_at_period_end


def test_invoice_paid_and_payment_succeeded_count_once(
    deliver,
    localstripe,
    stripe_plan,
    card_holder,  # noqa: F811
):
    student, created = _subscribed(stripe_plan, card_holder)
    invoice = _stripe_invoice(localstripe, created.subscription)
    for type_ in ("invoice.paid", "invoice.payment_succeeded", "invoice.paid"):
        deliver(event_body(type_, invoice))
    assert len(periods()) == 1 and len(invoices()) == 1
    statuses = db.session.scalars(sa.select(WebhookEvent.status)).all()
    assert statuses and set(statuses) == {EventStatus.PROCESSED}


def test_an_incomplete_event_object_is_read_from_stripe(
    deliver,
    localstripe,
    stripe_plan,
    card_holder,  # noqa: F811
):
    student, created = _subscribed(stripe_plan, card_holder)
    sub = created.subscription
    localstripe.http.post(
        f"{localstripe.url}/v1/subscriptions/{sub.provider_subscription_id}",
        data={"cancel_at_period_end": "true"},
        auth=("sk_test_localstripe", ""),
        timeout=5,
    ).raise_for_status()
    bare = {"id": sub.provider_subscription_id, "object": "subscription"}
    later = int(time.time()) + 5
    deliver(event_body("customer.subscription.updated", bare, event_id="evt_bare", created=later))
    assert stored("evt_bare").status == EventStatus.PROCESSED
    assert _reload(sub).cancel_at_period_end


def test_a_deleted_subscription_ends_here(
    deliver,
    localstripe,
    stripe_plan,
    card_holder,  # noqa: F811
):
    student, created = _subscribed(stripe_plan, card_holder)
    sub = created.subscription
    ended = localstripe.http.delete(
        f"{localstripe.url}/v1/subscriptions/{sub.provider_subscription_id}",
        auth=("sk_test_localstripe", ""),
        timeout=5,
    ).json()
    deliver(event_body("customer.subscription.deleted", ended, created=int(time.time()) + 2))
    sub = _reload(sub)
    assert sub.status == SubscriptionStatus.CANCELED and sub.ended_at is not None
    assert periods()[0].closed_at is not None


def test_a_renewal_that_fails_makes_it_past_due(
    deliver,
    localstripe,
    stripe_plan,
    card_holder,  # noqa: F811
):
    student, created = _subscribed(stripe_plan, card_holder)
    sub = created.subscription
    failed = {
        **_stripe_invoice(localstripe, sub),
        "id": "in_renewal_failed",
        "status": "open",
        "amount_paid": 0,
    }
    deliver(event_body("invoice.payment_failed", failed, event_id="evt_failed"))
    assert stored("evt_failed").status == EventStatus.PROCESSED, stored("evt_failed").last_error
    sub = _reload(sub)
    assert sub.status == SubscriptionStatus.PAST_DUE
    assert sub.open_provider_invoice_id == "in_renewal_failed"


def test_a_subscription_of_somebody_else_is_not_applicable(deliver):
    item = {"id": "si_x", "plan": {"id": "plan_x"}}
    obj = {"id": "sub_x", "status": "active", "items": {"data": [item]}, "metadata": {}}
    deliver(event_body("customer.subscription.updated", obj, event_id="evt_notours"))
    event = stored("evt_notours")
    assert event.status == EventStatus.FAILED and "not started by the portal" in event.last_error
    assert event.retry_at is None


@pytest.mark.postgres
def test_one_renewal_reported_eight_times_at_once_counts_once(
    postgres, live_server, secret, localstripe, stripe_plan, card_holder
):
    _, created = _subscribed(stripe_plan, card_holder)
    renewal = _stripe_invoice(localstripe, created.subscription)
    period = renewal["lines"]["data"][0]["period"]
    month = period["end"] - period["start"]
    renewal["id"] = "in_renewal_race"
    renewal["lines"]["data"][0]["period"] = {"start": period["end"], "end": period["end"] + month}
    events = [
        event_body(type_, renewal) for type_ in ("invoice.paid", "invoice.payment_succeeded") * 4
    ]
    responses = _post_together(live_server, secret, events)
    assert [r.status_code for r in responses] == [200] * 8
    db.session.rollback()
    statuses = db.session.scalars(sa.select(WebhookEvent.status)).all()
    assert statuses.count(EventStatus.PROCESSED) == 8, statuses
    renewed = [p for p in periods() if p.provider_invoice_id == "in_renewal_race"]
    assert len(renewed) == 1 and renewed[0].amount_paid == 20000
    assert len([i for i in invoices() if i.provider_invoice_id == "in_renewal_race"]) == 1


def test_a_failed_intent_of_an_invoice_is_never_a_failure(deliver):
    intent = {
        "id": "pi_of_invoice",
        "object": "payment_intent",
        "status": "requires_payment_method",
        "invoice": "in_someone",
        "metadata": {},
    }
    deliver(event_body("payment_intent.payment_failed", intent, event_id="evt_pi_invoice"))
    event = stored("evt_pi_invoice")
    assert event.status == EventStatus.PROCESSED and "recorded" in event.result


def test_an_invoice_paid_after_the_end_is_booked_and_closed(
    deliver, localstripe, stripe_plan, card_holder
):
    student, created = _subscribed(stripe_plan, card_holder)
    late = _stripe_invoice(localstripe, created.subscription) | {"id": "in_after_the_end"}
    services.cancel_subscription(student, immediately=True)
    db.session.commit()
    deliver(event_body("invoice.paid", late, event_id="evt_late_invoice"))
    assert stored("evt_late_invoice").status == EventStatus.PROCESSED
    [late_period] = [p for p in periods() if p.provider_invoice_id == "in_after_the_end"]
    assert late_period.closed_at is not None
    assert _reload(created.subscription).status == SubscriptionStatus.CANCELED
    assert_ledger_ok()


def test_events_of_a_declined_first_payment_are_recorded_only(
    deliver, localstripe, stripe_plan, card_holder
):
    from portal.errors import Conflict
    from tests.support.localstripe import DECLINED_AT_CHARGE

    student = card_holder(DECLINED_AT_CHARGE)
    with pytest.raises(Conflict):
        services.create_subscription(student, stripe_plan())
    db.session.rollback()
    [gone] = localstripe.get(
        "/v1/subscriptions", customer=student.stripe_customer_id, status="all"
    )["data"]
    created = {**gone, "status": "incomplete"}  # as Stripe sent it when it was made
    deliver(event_body("customer.subscription.created", created, event_id="evt_declined"))
    event = stored("evt_declined")
    assert event.status == EventStatus.PROCESSED and "Recorded only" in event.result
    assert db.session.query(Subscription).count() == 0


def test_an_event_overtaking_the_commit_is_retried(deliver, localstripe, stripe_plan, card_holder):
    student = card_holder()
    sub = services.create_subscription(student, stripe_plan()).subscription
    obj = localstripe.get(f"/v1/subscriptions/{sub.provider_subscription_id}")
    # The request has not committed when the event is processed: its row is taken back
    # here, but the request is not over, so nothing is cancelled at Stripe.
    leftovers.keep(sub.provider_subscription_id)
    db.session.rollback()
    deliver(event_body("customer.subscription.created", obj, event_id="evt_early"))
    event = stored("evt_early")
    assert event.status == EventStatus.FAILED and event.retry_at is not None
    assert "not recorded here yet" in event.last_error
