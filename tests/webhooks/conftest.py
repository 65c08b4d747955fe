"""Signed Stripe events made offline, and payments in the states webhooks settle.

Signatures come from the `stripe` library itself (`WebhookSignature`), so a test signs
exactly as Stripe does: `t=<timestamp>,v1=<HMAC-SHA256 of "<timestamp>.<body>">`.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
import stripe

from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.payments.models import Payment
from portal.providers.base import CardDeclined
from portal.webhooks.models import WebhookEvent
from tests import factories
from tests.support.localstripe import VISA
from tests.support.stripe_replay import recorded, stripe_replay  # noqa: F401 - shared fixture

URL = "/api/v1/webhooks/stripe/"
_ids = itertools.count(1)


def event_body(type_: str, obj: dict, *, event_id: str | None = None, created=None) -> dict:
    return {
        "id": event_id or f"evt_test{next(_ids):08d}{int(time.time() * 1000)}",
        "object": "event",
        "type": type_,
        "api_version": "2024-06-20",
        "created": int(created if created is not None else time.time()),
        "livemode": False,
        "data": {"object": obj},
    }


def plain_invoice(invoice_id: str = "in_1", status: str = "paid", amount: int = 2900) -> dict:
    """A whole Stripe invoice that bills no subscription (a one-off invoice)."""
    return {
        "id": invoice_id,
        "object": "invoice",
        "status": status,
        "amount_paid": amount if status == "paid" else 0,
        "currency": "usd",
        "lines": {"object": "list", "data": [], "has_more": False},
    }


def sign(body: str | bytes, secret: str, timestamp: int | None = None) -> str:
    text = body.decode() if isinstance(body, bytes) else body
    return stripe.WebhookSignature.generate_signature_header(text, secret, timestamp=timestamp)


@pytest.fixture(autouse=True)
def suite_celery_app(app):
    """Queued tasks run in the suite's app. A test elsewhere that builds a second app makes
    that app's Celery current (set_default alone does not undo it), and an eager task would
    then run against the other app's provider and settings."""
    celery_app = app.extensions["celery"]
    celery_app.set_current()
    celery_app.set_default()


@pytest.fixture
def secret(app) -> str:
    return app.config["STRIPE_WEBHOOK_SECRET"].split(",")[0]


@pytest.fixture
def deliver(client, secret):
    """`deliver(event_dict_or_body)` posts it to the webhook route, signed like Stripe."""

    def _deliver(event, *, secret_=None, timestamp=None, headers=None):
        body = event if isinstance(event, str | bytes) else json.dumps(event)
        header = sign(body, secret_ or secret, timestamp)
        all_headers = {"Stripe-Signature": header, "Content-Type": "application/json"}
        all_headers.update(headers or {})
        return client.post(URL, data=body, headers=all_headers)

    return _deliver


def stored(stripe_id: str) -> WebhookEvent | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(WebhookEvent).where(WebhookEvent.stripe_id == stripe_id))


def ledger_entries(payment: Payment) -> list[LedgerEntry]:
    return list(
        db.session.scalars(
            sa.select(LedgerEntry)
            .where(LedgerEntry.payment_id == payment.id)
            .order_by(LedgerEntry.id)
        )
    )


@dataclass
class Lesson:
    """A student's lesson with a payment attempt started through the payment service."""

    student: object
    booking: object
    payment: Payment
    localstripe: object

    @property
    def intent_id(self) -> str:
        return self.payment.provider_payment_id

    def pay_at_stripe(self, number: str = VISA):
        """What Stripe.js does in the browser: confirm the intent with a card. The portal
        hears of it only by webhook (or by asking)."""
        from portal.providers import get_provider

        provider = get_provider()
        card = provider.attach_payment_method(
            self.localstripe.token(number),
            customer=self.student.stripe_customer_id,
            idempotency_key=f"attach-{self.payment.uuid}-{number}",
        )
        try:
            return provider.confirm_payment_intent(self.intent_id, payment_method=card.id)
        except CardDeclined:  # the decline stays on the intent, as in the browser
            return provider.retrieve_payment_intent(self.intent_id)

    def refund_at_stripe(self, amount: int, key: str):
        """A refund made at Stripe (the dashboard), not through the portal."""
        from portal.providers import get_provider

        return get_provider().create_refund(
            payment_intent=self.intent_id, amount=amount, idempotency_key=key
        )

    def refresh(self) -> Payment:
        db.session.expire_all()
        self.payment = db.session.get(Payment, self.payment.id)
        return self.payment


@pytest.fixture
def new_lesson(localstripe):
    """`new_lesson()` → a Lesson whose payment is pending here, with an intent at Stripe."""
    from portal.payments.intents import create_payment_intent

    def _new_lesson() -> Lesson:
        booking = factories.BookingFactory()
        step = create_payment_intent(booking.student, booking.id)
        db.session.commit()
        return Lesson(booking.student, booking, step.payment, localstripe)

    return _new_lesson


def intent_event(type_: str, lesson: Lesson, **kwargs) -> dict:
    """The event Stripe sends about the lesson's intent, with the intent as it is now."""
    obj = lesson.localstripe.get(f"/v1/payment_intents/{lesson.intent_id}")
    return event_body(type_, obj, **kwargs)


def charge_refunded_event(lesson: Lesson, **kwargs) -> dict:
    intent = lesson.localstripe.get(f"/v1/payment_intents/{lesson.intent_id}")
    charge_id = intent["latest_charge"]
    charge_id = charge_id["id"] if isinstance(charge_id, dict) else charge_id
    charge = lesson.localstripe.get(f"/v1/charges/{charge_id}")
    return event_body("charge.refunded", charge, **kwargs)


@pytest.fixture
def refunded(new_lesson, deliver, stripe_replay):  # noqa: F811 - the fixture above
    """`refunded(amount)` → (lesson, Stripe's refund) for a paid lesson refunded at Stripe
    and recorded here from its `charge.refunded`."""

    def _refunded(amount: int):
        lesson = new_lesson()
        lesson.pay_at_stripe()
        deliver(intent_event("payment_intent.succeeded", lesson))
        refund = lesson.refund_at_stripe(amount, key=f"dash-{lesson.payment.uuid}")
        deliver(charge_refunded_event(lesson))
        assert lesson.refresh().amount_refunded == amount
        return lesson, refund

    return _refunded


def fail_at_stripe(replay, lesson, refund) -> dict:
    """From now on Stripe lists the refund as failed; returns that refund object."""
    listing = recorded("refund_list_failed")
    failed = {
        **listing["data"][0],
        "id": refund.id,
        "amount": refund.amount,
        "charge": refund.charge,
        "payment_intent": lesson.intent_id,
    }
    replay.answer_json("GET", "/v1/refunds", {**listing, "data": [failed]})
    return failed
