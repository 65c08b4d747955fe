"""An invoice paid at Stripe is settled by the webhook, like a lesson: the first of the
webhook and the confirm call does the work, the other changes nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.invoices import services
from portal.invoices.models import Invoice
from portal.invoices.services import Line
from portal.ledger.models import LedgerEntry
from portal.payments.invoice_payments import create_invoice_payment_intent
from tests.support.ledger import assert_ledger_ok
from tests.webhooks.conftest import (  # noqa: F401 - shared fixtures
    Lesson,
    deliver,
    intent_event,
    secret,
    suite_celery_app,
)

pytestmark = pytest.mark.stripe


def test_a_payment_intent_succeeded_event_pays_the_invoice_once(
    student,
    localstripe,
    deliver,  # noqa: F811 - the shared fixture
):
    invoice = services.create_invoice(
        user_id=student.id, currency="usd", lines=[Line("Course book", 2, 1750)], kind="manual"
    )
    services.finalize_invoice(invoice)
    db.session.commit()
    step = create_invoice_payment_intent(student, invoice.uuid)
    db.session.commit()
    paying = Lesson(student, None, step.payment, localstripe)
    paying.pay_at_stripe()
    event = intent_event("payment_intent.succeeded", paying)
    assert deliver(event).status_code == 200
    assert deliver(intent_event("payment_intent.succeeded", paying)).status_code == 200
    payment = paying.refresh()
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert (payment.status, invoice.status, invoice.payment_id) == ("succeeded", "paid", payment.id)
    keys = db.session.scalars(
        sa.select(LedgerEntry.idempotency_key).where(LedgerEntry.payment_id == payment.id)
    ).all()
    assert keys == [f"payment:{payment.uuid}:captured"]
    assert_ledger_ok()
