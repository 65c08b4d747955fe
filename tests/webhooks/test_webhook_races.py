"""Concurrent deliveries on PostgreSQL: real threads, real connections, the live server."""

from __future__ import annotations

import json
from functools import partial

import pytest
import requests
import sqlalchemy as sa

from portal.extensions import db
from portal.payments.models import PaymentStatus
from portal.webhooks.models import EventStatus, WebhookEvent
from portal.webhooks.tasks import run_event
from tests.support.races import at_once
from tests.webhooks.conftest import (
    URL,
    charge_refunded_event,
    event_body,
    fail_at_stripe,
    intent_event,
    ledger_entries,
    sign,
    stored,
)

pytestmark = [pytest.mark.postgres, pytest.mark.stripe]
SENDERS = 20


def _post_together(live_server, secret, events: list[dict]) -> list[requests.Response]:
    """Every event posted at the same moment, each from its own thread."""

    def send(body: str):
        headers = {"Stripe-Signature": sign(body, secret), "Content-Type": "application/json"}
        with requests.Session() as http:
            return http.post(live_server.url + URL, data=body, headers=headers, timeout=30)

    return at_once([partial(send, json.dumps(event)) for event in events])


def test_the_same_event_posted_20_times_at_once_is_processed_once(
    postgres, live_server, secret, new_lesson
):
    lesson = new_lesson()
    lesson.pay_at_stripe()
    event = intent_event("payment_intent.succeeded", lesson)
    responses = _post_together(live_server, secret, [event] * SENDERS)
    assert [r.status_code for r in responses] == [200] * SENDERS
    assert sorted(r.json()["duplicate"] for r in responses) == [False] + [True] * (SENDERS - 1)
    db.session.rollback()
    count = db.session.scalar(sa.select(sa.func.count()).select_from(WebhookEvent))
    row = stored(event["id"])
    assert (count, row.status, row.attempts) == (1, EventStatus.PROCESSED, 1)
    payment = lesson.refresh()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert len(ledger_entries(payment)) == 1


def test_20_replays_at_once_take_turns_and_post_once(postgres, deliver, new_lesson, app):
    lesson = new_lesson()
    lesson.pay_at_stripe()
    event = intent_event("payment_intent.succeeded", lesson)
    deliver(event)
    event_id = stored(event["id"]).id

    def replay():
        return run_event(event_id, replay=True).status

    outcomes = at_once([replay] * SENDERS, app=app)
    assert outcomes == [EventStatus.PROCESSED] * SENDERS
    assert stored(event["id"]).attempts == 1 + SENDERS  # no lost update: each took the lock
    assert len(ledger_entries(lesson.refresh())) == 1


def test_a_success_and_its_refund_racing_end_as_in_order(
    postgres, live_server, secret, new_lesson, deliver
):
    in_order = new_lesson()
    in_order.pay_at_stripe()
    in_order.refund_at_stripe(1500, key="dash-in-order")
    deliver(intent_event("payment_intent.succeeded", in_order))
    deliver(charge_refunded_event(in_order))

    racing = new_lesson()
    racing.pay_at_stripe()
    racing.refund_at_stripe(1500, key="dash-racing")
    events = [intent_event("payment_intent.succeeded", racing), charge_refunded_event(racing)]
    responses = _post_together(live_server, secret, events * 5)
    assert {r.status_code for r in responses} == {200}

    db.session.rollback()
    for lesson in (in_order, racing):
        lesson.refresh()
    assert [stored(e["id"]).status for e in events] == [EventStatus.PROCESSED] * 2
    expected, got = in_order.payment, racing.payment
    assert (
        (got.status, got.amount_refunded, got.fee_refunded)
        == (
            expected.status,
            expected.amount_refunded,
            expected.fee_refunded,
        )
        == (PaymentStatus.PARTIALLY_REFUNDED, 1500, expected.fee_refunded)
    )
    assert [e.kind for e in ledger_entries(got)] == [e.kind for e in ledger_entries(expected)]


def test_a_failed_refund_reported_10_times_at_once_is_undone_once(
    postgres, live_server, secret, new_lesson, deliver, stripe_replay
):
    lesson = new_lesson()
    lesson.pay_at_stripe()
    deliver(intent_event("payment_intent.succeeded", lesson))
    refund = lesson.refund_at_stripe(2000, key=f"dash-{lesson.payment.uuid}")
    deliver(charge_refunded_event(lesson))
    failed = fail_at_stripe(stripe_replay, lesson, refund)
    events = [
        event_body(type_, failed)
        for type_ in ("refund.failed", "charge.refund.updated", "refund.updated") * 3
    ] + [charge_refunded_event(lesson)]
    responses = _post_together(live_server, secret, events)
    assert {r.status_code for r in responses} == {200}

    db.session.rollback()
    assert {stored(e["id"]).status for e in events} == {EventStatus.PROCESSED}
    payment = lesson.refresh()
    assert (payment.status, payment.amount_refunded, payment.fee_refunded) == (
        PaymentStatus.SUCCEEDED,
        0,
        0,
    )
    assert [e.kind for e in ledger_entries(payment)] == [
        "lesson_earning",
        "refund",
        "refund_reversed",
    ]
