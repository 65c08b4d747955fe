"""`Idempotency-Key` on the calls that reach Stripe (localstripe): subscribing, changing
plan, starting and confirming a lesson payment. A resend replays and Stripe is not asked
again."""

from __future__ import annotations

from portal.extensions import db
from portal.payments.models import Payment
from tests.factories import BookingFactory
from tests.subscriptions.stripe_support import stripe_subscriptions, subscriptions
from tests.subscriptions.test_recorded_stripe import SUB
from tests.support.localstripe import VISA

BASE = "/api/v1/subscriptions"


def _twice(client, url, body, headers):
    first = client.post(url, json=body, headers=headers)
    again = client.post(url, json=body, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert (again.status_code, again.get_data()) == (first.status_code, first.get_data())
    return first


def test_subscribing_twice_is_one_subscription(
    client, bearer, stripe_plan, card_holder, localstripe
):
    stripe_plan()
    student = card_holder()
    headers = {**bearer(student), "Idempotency-Key": "sub-0001"}
    made = _twice(client, f"{BASE}/", {"plan": "monthly-4"}, headers)
    assert made.status_code == 201
    assert len(stripe_subscriptions(localstripe, student.stripe_customer_id)) == 1
    assert len(subscriptions()) == 1


def test_changing_plan_twice_asks_stripe_once(
    client, bearer, stripe_replay, four, eight, card_holder
):
    stripe_replay.answer("POST", "/v1/subscriptions", "subscription_upgraded")
    student = card_holder()
    auth = bearer(student)
    assert client.post(f"{BASE}/", json={"plan_id": eight.id}, headers=auth).status_code == 201
    stripe_replay.answer("GET", f"/v1/subscriptions/{SUB}", "subscription_upgraded")
    stripe_replay.answer("POST", f"/v1/subscriptions/{SUB}", "subscription_downgraded")
    headers = {**auth, "Idempotency-Key": "sub-change-0001"}
    changed = _twice(client, f"{BASE}/change/", {"plan": four.slug}, headers)
    assert changed.status_code == 200 and changed.json["next_plan"]["id"] == four.id
    assert len(stripe_replay.seen("POST", f"/v1/subscriptions/{SUB}")) == 1


def test_a_lesson_payment_started_and_confirmed_twice_is_charged_once(
    client, bearer, student, tutor, localstripe
):
    lesson = BookingFactory(student=student, tutor=tutor)
    auth = bearer(student)
    started = _twice(
        client,
        "/api/v1/payments/intent/",
        {"booking_id": lesson.id},
        {**auth, "Idempotency-Key": "pay-0001"},
    )
    assert started.status_code == 201
    confirm = f"/api/v1/payments/{started.json['id']}/confirm/"
    body = {"provider_method_id": localstripe.token(VISA)}
    confirmed = _twice(client, confirm, body, {**auth, "Idempotency-Key": "pay-0002"})
    assert confirmed.json["status"] == "succeeded"
    db.session.expire_all()
    (payment,) = db.session.query(Payment).all()
    charges = localstripe.get("/v1/charges")["data"]
    assert [c["payment_intent"] for c in charges] == [payment.provider_payment_id]
