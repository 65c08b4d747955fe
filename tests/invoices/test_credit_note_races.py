"""Credit note numbers under concurrency on PostgreSQL: real threads, real connections."""

from __future__ import annotations

from functools import partial

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.invoices import credit_notes, services
from portal.invoices.models import CreditNote, Invoice
from portal.invoices.services import Line
from portal.payments.models import Payment, Refund
from tests.support.races import at_once

pytestmark = pytest.mark.postgres
REFUNDS = 12


def test_notes_issued_at_once_are_numbered_without_gaps(postgres, app, student):
    payment = Payment(
        payer_id=student.id,
        amount=REFUNDS * 100,
        currency="usd",
        platform_fee=0,
        net_amount=REFUNDS * 100,
        idempotency_key="race-payment",
    )
    db.session.add(payment)
    db.session.flush()
    invoice = services.create_invoice(
        user_id=student.id, currency="usd", lines=[Line("Lessons", REFUNDS, 100)]
    )
    refund_ids = []
    for n in range(REFUNDS):
        refund = Refund(
            payment_id=payment.id, amount=100, currency="usd", idempotency_key=f"race-{n}"
        )
        db.session.add(refund)
        db.session.flush()
        refund_ids.append(refund.id)
    db.session.commit()
    invoice_id = invoice.id

    def issue(refund_id: int, keep: bool):
        credit_notes.issue_for_refund(
            db.session.get(Invoice, invoice_id), refund_id=refund_id, amount=100
        )
        # Every third one fails after taking its number: the number goes back.
        db.session.commit() if keep else db.session.rollback()

    calls = [partial(issue, refund_id, n % 3 != 0) for n, refund_id in enumerate(refund_ids)]
    assert [r for r in at_once(calls, app=app, catch=Exception) if r is not None] == []
    db.session.rollback()
    numbers = db.session.scalars(sa.select(CreditNote.number).order_by(CreditNote.number)).all()
    kept = sum(1 for n in range(REFUNDS) if n % 3 != 0)
    year = numbers[0][3:7]
    assert numbers == [f"CN-{year}-{n:06d}" for n in range(1, kept + 1)]
