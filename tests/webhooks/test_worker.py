"""With a broker the route only stores and queues; a real Celery worker on Redis settles."""

from __future__ import annotations

import json
import time

import pytest

from portal.extensions import db
from portal.payments.models import PaymentStatus
from portal.webhooks.models import EventStatus
from tests.support.localstripe import SECRET_KEY
from tests.support.workers import celery_worker, redis_url
from tests.webhooks.conftest import URL, intent_event, ledger_entries, sign, stored

pytestmark = [pytest.mark.redis, pytest.mark.stripe]


@pytest.fixture
def queued_app(app, localstripe, smtp_server):
    """The portal with a broker, next to a worker that reaches the tests' localstripe and
    sends mail to the tests' SMTP server."""
    url = redis_url()
    config = {
        "CELERY_BROKER_URL": url,
        "CELERY_RESULT_BACKEND": url,
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "STRIPE_API_BASE": localstripe.url,
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": app.config["STRIPE_WEBHOOK_SECRET"],
        "STRIPE_MAX_NETWORK_RETRIES": 0,
        "SECRET_KEY": "test-secret",
        "MAIL_SERVER": smtp_server.hostname,
        "MAIL_PORT": smtp_server.port,
        "MAIL_SUPPRESS_SEND": "0",
    }
    with celery_worker(app, config) as queued:
        yield queued


def test_a_queued_event_is_settled_by_a_real_worker(queued_app, new_lesson, secret):
    lesson = new_lesson()
    lesson.pay_at_stripe()
    event = intent_event("payment_intent.succeeded", lesson)
    body = json.dumps(event)
    headers = {"Stripe-Signature": sign(body, secret)}
    response = queued_app.test_client().post(URL, data=body, headers=headers)
    assert response.status_code == 200
    deadline = time.monotonic() + 30
    while stored(event["id"]).status == EventStatus.RECEIVED and time.monotonic() < deadline:
        time.sleep(0.2)
    row = stored(event["id"])
    assert (row.status, row.attempts) == (EventStatus.PROCESSED, 1)
    payment = lesson.refresh()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert len(ledger_entries(payment)) == 1
    db.session.rollback()


def test_the_worker_invoices_the_payment_and_mails_the_receipt(
    queued_app, new_lesson, secret, smtp_server
):
    from portal.invoices.models import Invoice

    smtp_server.handler.messages.clear()
    lesson = new_lesson()
    lesson.pay_at_stripe()
    body = json.dumps(intent_event("payment_intent.succeeded", lesson))
    queued_app.test_client().post(URL, data=body, headers={"Stripe-Signature": sign(body, secret)})
    deadline = time.monotonic() + 30
    while not smtp_server.handler.messages and time.monotonic() < deadline:
        time.sleep(0.2)
    db.session.rollback()
    invoice = db.session.query(Invoice).filter_by(payment_id=lesson.payment.id).one()
    [message] = smtp_server.handler.messages
    assert message["To"] == lesson.student.email
    assert invoice.number in message["Subject"]
    assert invoice.receipt_sent_at is not None
