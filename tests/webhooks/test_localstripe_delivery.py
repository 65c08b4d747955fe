"""localstripe delivers real signed webhooks to the portal served on a local port."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.payments.models import PaymentStatus
from portal.webhooks.models import EventStatus, WebhookEvent
from tests.support.localstripe import DECLINED_AT_CHARGE, SECRET_KEY
from tests.webhooks.conftest import ledger_entries

pytestmark = pytest.mark.stripe


def _register(localstripe, url: str, secret: str) -> None:
    response = localstripe.http.post(
        f"{localstripe.url}/_config/webhooks/portal-tests",
        data={"url": url, "secret": secret},
        auth=(SECRET_KEY, ""),
        timeout=5,
    )
    response.raise_for_status()


@pytest.fixture
def stripe_webhooks(live_server, localstripe, secret):
    """localstripe sends every event to the live portal, signed with the portal's secret."""
    _register(localstripe, f"{live_server.url}/api/v1/webhooks/stripe/", secret)
    yield
    # localstripe cannot forget a webhook: point it at a closed port so later tests'
    # events do not land in their database.
    _register(localstripe, "http://127.0.0.1:9/", secret)


def _wait_for(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.rollback()
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("localstripe's webhook did not arrive in time")


def _handled(type_: str, object_id: str) -> WebhookEvent | None:
    """The event once stored and through processing (or ignored)."""
    return db.session.scalar(
        sa.select(WebhookEvent).where(
            WebhookEvent.type == type_,
            WebhookEvent.object_id == object_id,
            WebhookEvent.status != EventStatus.RECEIVED,
        )
    )


def test_a_payment_is_settled_by_localstripes_webhook(stripe_webhooks, new_lesson):
    lesson = new_lesson()
    lesson.pay_at_stripe()  # in the browser; the portal is not told
    event = _wait_for(lambda: _handled("payment_intent.succeeded", lesson.intent_id))
    assert (event.status, event.attempts) == (EventStatus.PROCESSED, 1)
    assert event.api_version  # as localstripe sent it
    payment = lesson.refresh()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert len(ledger_entries(payment)) == 1


def test_a_declined_payment_is_failed_by_localstripes_webhook(stripe_webhooks, new_lesson):
    lesson = new_lesson()
    lesson.pay_at_stripe(DECLINED_AT_CHARGE)
    event = _wait_for(lambda: _handled("payment_intent.payment_failed", lesson.intent_id))
    assert event.status == EventStatus.PROCESSED
    payment = lesson.refresh()
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_message
    assert ledger_entries(payment) == []


def test_events_the_portal_does_not_handle_are_stored_as_ignored(stripe_webhooks, new_lesson):
    lesson = new_lesson()
    customer = lesson.student.stripe_customer_id
    ignored = _wait_for(lambda: _handled("customer.created", customer))
    assert (ignored.status, ignored.attempts) == (EventStatus.IGNORED, 0)
