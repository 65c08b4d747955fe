"""Nothing is left billing at Stripe that the portal does not show: a subscription whose
request rolled back here, one whose request died before its commit, and a second one
from a Checkout page in another tab are cancelled at Stripe and their payment refunded."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from portal.db import unit_of_work
from portal.errors import Conflict
from portal.extensions import db
from portal.payments.customers import ensure_customer
from portal.providers import get_provider
from portal.subscriptions import events, leftovers, services
from portal.subscriptions.models import SubscriptionStatus
from tests.subscriptions.plans_support import make_subscription
from tests.subscriptions.recorded_support import SUB
from tests.subscriptions.stripe_support import stripe_subscriptions, subscriptions
from tests.support.localstripe import DECLINED_AT_CHARGE
from tests.support.stripe_replay import recorded

pytestmark = pytest.mark.stripe


def _refunds(localstripe, at_stripe: dict) -> list[dict]:
    invoice = localstripe.get(f"/v1/invoices/{at_stripe['latest_invoice']}")
    intent = invoice["payment_intent"]
    return [r for r in localstripe.get("/v1/refunds")["data"] if r["payment_intent"] == intent]


def test_a_request_that_rolls_back_after_stripe_answered_leaves_nothing_there(
    localstripe, stripe_plan, card_holder, monkeypatch
):
    plan = stripe_plan(price=20000)
    student = card_holder()

    def fails(*_args, **_kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "renew_subscription", fails)
    with pytest.raises(RuntimeError), unit_of_work():
        services.create_subscription(student, plan)
    assert subscriptions() == []
    [at_stripe] = stripe_subscriptions(localstripe, student.stripe_customer_id)
    assert at_stripe["status"] == "canceled"
    [refund] = _refunds(localstripe, at_stripe)
    assert refund["amount"] == 20000
    monkeypatch.undo()  # the student tries again: one subscription, here and there
    with unit_of_work():
        services.create_subscription(student, plan)
    live = [s for s in stripe_subscriptions(localstripe, student.stripe_customer_id)
            if s["status"] == "active"]  # fmt: skip
    [sub] = subscriptions()
    assert [s["id"] for s in live] == [sub.provider_subscription_id]


def test_a_declined_first_payment_is_cancelled_once_and_not_refunded(
    localstripe, stripe_plan, card_holder
):
    student = card_holder(DECLINED_AT_CHARGE)
    with pytest.raises(Conflict), unit_of_work():
        services.create_subscription(student, stripe_plan())
    [at_stripe] = stripe_subscriptions(localstripe, student.stripe_customer_id)
    assert at_stripe["status"] in leftovers.ENDED_AT_STRIPE
    assert localstripe.get("/v1/refunds")["data"] == []


def _orphan(student, plan) -> dict:
    """A subscription Stripe made for a request of ours that never committed."""
    customer = ensure_customer(student)
    db.session.commit()
    return get_provider().create_subscription(
        customer=customer,
        price_id=plan.provider_price_id,
        idempotency_key=f"test-orphan-{uuid.uuid4()}",
        metadata={"subscription_uuid": str(uuid.uuid4()), "student_id": str(student.id)},
    )


def test_one_whose_request_died_is_waited_for_then_cancelled_and_refunded(
    localstripe, stripe_plan, card_holder, monkeypatch
):
    student, plan = card_holder(), stripe_plan(price=20000)
    obj = _orphan(student, plan)
    with pytest.raises(events.NotYetKnown):  # the request may still commit
        events.subscription_changed(obj, event_created=obj["created"])
    assert localstripe.get(f"/v1/subscriptions/{obj['id']}")["status"] == "active"
    monkeypatch.setattr(leftovers, "ORPHAN_AFTER", timedelta(seconds=-1))
    with pytest.raises(events.NeverRecorded) as ended:
        events.subscription_changed(obj, event_created=obj["created"])
    assert "cancelled at Stripe, its 20000 refunded" in str(ended.value)
    at_stripe = localstripe.get(f"/v1/subscriptions/{obj['id']}")
    assert at_stripe["status"] == "canceled"
    assert [r["amount"] for r in _refunds(localstripe, at_stripe)] == [20000]
    with pytest.raises(events.NeverRecorded):  # a later event: nothing more is done
        events.subscription_changed(obj, event_created=obj["created"] + 1)
    assert len(_refunds(localstripe, at_stripe)) == 1
    assert subscriptions() == []


def _paid_invoice_at_stripe(replay) -> None:
    """The recorded subscription's first invoice, paid by an intent that succeeded."""
    intent = recorded("payment_intent_invoice_declined")
    intent.update(status="succeeded", last_payment_error=None, amount_received=16000)
    payments = recorded("invoice_payments_open")
    payments["data"][0].update(status="paid", amount_paid=16000, invoice="in_first")
    replay.answer_json("GET", "/v1/invoice_payments", payments)
    replay.answer_json("GET", f"/v1/payment_intents/{intent['id']}", intent)
    refund = {"id": "re_dup1", "object": "refund", "amount": 16000, "currency": "usd",
              "status": "succeeded", "payment_intent": intent["id"], "metadata": {}}  # fmt: skip
    replay.answer_json("POST", "/v1/refunds", refund)


def test_a_second_checkout_subscription_is_cancelled_and_refunded(stripe_replay, four, card_holder):
    student = card_holder()
    first = make_subscription(student, four, provider_subscription_id="sub_first")
    second = recorded("subscription_active")
    second["metadata"] = {"student_id": str(student.id), "plan_id": str(four.id)}
    stripe_replay.answer_json("GET", f"/v1/subscriptions/{SUB}", second)
    ended = {**second, "status": "canceled"}
    stripe_replay.answer_json("DELETE", f"/v1/subscriptions/{SUB}", ended)
    _paid_invoice_at_stripe(stripe_replay)
    with pytest.raises(events.NeverRecorded) as duplicate:
        events.checkout_completed(recorded("checkout_session_subscription_complete"))
    db.session.commit()
    assert "a second one" in str(duplicate.value) and "16000 refunded" in str(duplicate.value)
    assert len(stripe_replay.seen("DELETE", f"/v1/subscriptions/{SUB}")) == 1
    [refund] = stripe_replay.seen("POST", "/v1/refunds")
    assert refund.form["amount"] == "16000"
    key = refund.headers["Idempotency-Key"]
    assert key == f"subscription-leftover-{second['latest_invoice']['id']}-refund"
    assert [s.id for s in subscriptions()] == [first.id]
    assert subscriptions()[0].status == SubscriptionStatus.ACTIVE
    # Its invoice.paid comes later: it is cancelled already, and the refund asked again
    # under the same key (Stripe answers the first one).
    stripe_replay.answer_json("GET", f"/v1/subscriptions/{SUB}", ended)
    with pytest.raises(events.NeverRecorded):
        events.invoice_paid(second["latest_invoice"])
    assert len(stripe_replay.seen("DELETE", f"/v1/subscriptions/{SUB}")) == 1
    assert {r.headers["Idempotency-Key"] for r in stripe_replay.seen("POST", "/v1/refunds")} == {
        key
    }
