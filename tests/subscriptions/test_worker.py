"""A renewal's `invoice.paid` queued to a real Celery worker on Redis: the worker opens
the period, writes the invoice and mails its receipt."""

from __future__ import annotations

import json
import time

import pytest

from portal.extensions import db
from portal.subscriptions import services
from portal.webhooks.models import EventStatus
from tests.subscriptions.stripe_support import invoices, periods
from tests.webhooks.conftest import URL, event_body, sign, stored
from tests.webhooks.test_worker import queued_app  # noqa: F401 - fixture

pytestmark = [pytest.mark.redis, pytest.mark.stripe]


def test_a_renewal_is_applied_by_a_real_worker(
    queued_app,  # noqa: F811
    localstripe,
    stripe_plan,
    card_holder,
    smtp_server,
    app,
):
    secret = app.config["STRIPE_WEBHOOK_SECRET"].split(",")[0]
    sub = services.create_subscription(card_holder(), stripe_plan()).subscription
    db.session.commit()
    stripe_sub = localstripe.get(f"/v1/subscriptions/{sub.provider_subscription_id}")
    renewal = localstripe.get(f"/v1/invoices/{stripe_sub['latest_invoice']}")
    span = renewal["lines"]["data"][0]["period"]
    renewal["id"] = "in_renewal_by_worker"
    renewal["lines"]["data"][0]["period"] = {
        "start": span["end"],
        "end": span["end"] + (span["end"] - span["start"]),
    }
    event = event_body("invoice.paid", renewal)
    body = json.dumps(event)
    headers = {"Stripe-Signature": sign(body, secret)}
    assert queued_app.test_client().post(URL, data=body, headers=headers).status_code == 200
    receipt = _wait(lambda: _receipt_for("in_renewal_by_worker", smtp_server))
    db.session.rollback()
    assert stored(event["id"]).status == EventStatus.PROCESSED
    [renewed] = [p for p in periods() if p.provider_invoice_id == "in_renewal_by_worker"]
    [invoice] = [i for i in invoices() if i.provider_invoice_id == "in_renewal_by_worker"]
    assert renewed.amount_paid == invoice.total == 20000
    assert invoice.number in receipt["Subject"]


def _receipt_for(provider_invoice_id: str, smtp_server):
    db.session.rollback()
    numbers = [i.number for i in invoices() if i.provider_invoice_id == provider_invoice_id]
    mails = [m for m in smtp_server.handler.messages if numbers and numbers[0] in m["Subject"]]
    return mails[0] if mails else None


def _wait(found, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value is not None:
            return value
        time.sleep(0.3)
    raise AssertionError("the worker did not finish in time")
