"""Checkout payments settled by webhook, against recorded Checkout Session responses
(localstripe has no Checkout) and localstripe for everything else."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.payments.checkout import start_checkout
from portal.payments.models import Payment, PaymentStatus
from portal.webhooks.models import EventStatus
from tests.factories import BookingFactory
from tests.support.stripe_replay import recorded
from tests.webhooks.conftest import event_body, ledger_entries, stored

pytestmark = pytest.mark.stripe

SESSION = recorded("checkout_session_payment_complete")["id"]
PAID_INTENT = recorded("checkout_session_payment_complete")["payment_intent"]


@pytest.fixture
def checkout_payment(stripe_replay) -> Payment:
    stripe_replay.answer("POST", "/v1/checkout/sessions", "checkout_session_payment_open")
    booking = BookingFactory()
    step = start_checkout(
        booking.student,
        booking.id,
        success_url="http://localhost/billing/checkout/return",
        cancel_url="http://localhost/billing",
    )
    db.session.commit()
    assert step.payment.provider_payment_id is None
    return step.payment


def _refresh(payment: Payment) -> Payment:
    db.session.expire_all()
    return db.session.get(Payment, payment.id)


def test_a_completed_session_settles_its_payment_once(checkout_payment, stripe_replay, deliver):
    stripe_replay.answer(
        "GET", f"/v1/checkout/sessions/{SESSION}", "checkout_session_payment_complete"
    )
    first = event_body("checkout.session.completed", recorded("checkout_session_payment_complete"))
    second = event_body("checkout.session.completed", recorded("checkout_session_payment_complete"))
    deliver(first), deliver(second)
    payment = _refresh(checkout_payment)
    assert (payment.status, payment.provider_payment_id) == (PaymentStatus.SUCCEEDED, PAID_INTENT)
    assert len(ledger_entries(payment)) == 1
    assert "pending → succeeded (from its Checkout Session)" in stored(first["id"]).result
    assert "stays succeeded" in stored(second["id"]).result


def test_an_intent_event_finds_a_checkout_payment_by_its_metadata(
    checkout_payment, stripe_replay, deliver
):
    stripe_replay.answer(
        "GET", f"/v1/checkout/sessions/{SESSION}", "checkout_session_payment_complete"
    )
    intent = {
        "id": PAID_INTENT,
        "object": "payment_intent",
        "status": "succeeded",
        "metadata": {"payment_uuid": str(checkout_payment.uuid)},
    }
    event = event_body("payment_intent.succeeded", intent)
    deliver(event)
    assert stored(event["id"]).status == EventStatus.PROCESSED
    payment = _refresh(checkout_payment)
    assert (payment.status, payment.provider_payment_id) == (PaymentStatus.SUCCEEDED, PAID_INTENT)


def test_a_session_stripe_still_shows_open_leaves_the_payment_pending(
    checkout_payment, stripe_replay, deliver
):
    stripe_replay.answer("GET", f"/v1/checkout/sessions/{SESSION}", "checkout_session_payment_open")
    event = event_body("checkout.session.completed", recorded("checkout_session_payment_complete"))
    deliver(event)
    assert "stays pending" in stored(event["id"]).result
    assert _refresh(checkout_payment).status == PaymentStatus.PENDING
