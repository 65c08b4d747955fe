"""Races on PostgreSQL with real threads, real connections and localstripe: a double
click, two tabs, or a client retrying must never start two payments or capture twice."""

from __future__ import annotations

from functools import partial

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.payments import cards, customers, intents
from portal.payments.effects import earning_key
from portal.payments.models import Payment, PaymentStatus
from tests.support.races import at_once

pytestmark = [pytest.mark.postgres, pytest.mark.stripe]

RACERS = 4


def _race(client, requests: list[tuple[str, str, dict, dict]]) -> list:
    """Send the requests at once from threads; answers in the order given."""
    return at_once(
        [
            partial(client.open, url, method=method, json=body, headers=headers)
            for method, url, body, headers in requests
        ]
    )


def test_concurrent_intent_requests_for_one_lesson_make_one_payment(
    app, postgres, bearer, student, lesson, localstripe
):
    headers = bearer(student)
    customers.ensure_customer(student)  # as after a first visit; the race is on the payment
    db.session.commit()
    body = {"booking_id": lesson.id}
    answers = _race(
        app.test_client(), [("POST", "/api/v1/payments/intent/", body, headers)] * RACERS
    )

    assert sorted(a.status_code for a in answers) == [200] * (RACERS - 1) + [201]
    assert len({a.json["id"] for a in answers}) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 1
    stripe_intents = localstripe.get("/v1/payment_intents")["data"]
    assert len(stripe_intents) == 1


def test_concurrent_confirmations_capture_once_and_post_one_ledger_entry(
    app, postgres, bearer, student, lesson, localstripe
):
    headers = bearer(student)
    card = cards.add_payment_method(student, localstripe.token())
    step = intents.create_payment_intent(student, lesson.id)
    db.session.commit()
    url = f"/api/v1/payments/{step.payment.uuid}/confirm/"
    answers = _race(
        app.test_client(), [("POST", url, {"payment_method_id": card.id}, headers)] * RACERS
    )

    assert [a.status_code for a in answers] == [200] * RACERS
    assert {a.json["status"] for a in answers} == {"succeeded"}
    payment = db.session.get(Payment, step.payment.id)
    db.session.refresh(payment)
    assert payment.status == PaymentStatus.SUCCEEDED
    charges = localstripe.get("/v1/charges", customer=student.stripe_customer_id)["data"]
    assert len(charges) == 1
    entries = db.session.scalars(
        sa.select(LedgerEntry).where(LedgerEntry.idempotency_key == earning_key(payment))
    ).all()
    assert len(entries) == 1
