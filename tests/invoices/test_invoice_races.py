"""Invoice numbers under concurrency on PostgreSQL: real threads, real connections."""

from __future__ import annotations

from functools import partial

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.invoices import services
from portal.invoices.models import Invoice
from portal.invoices.services import Line
from tests.support.races import at_once

pytestmark = pytest.mark.postgres
OPENERS = 12


def test_invoices_opened_at_once_are_numbered_without_gaps(postgres, app, student):
    drafts = []
    for _ in range(OPENERS):
        invoice = services.create_invoice(
            user_id=student.id, currency="usd", lines=[Line("Lesson", 1, 4500)]
        )
        drafts.append(invoice.id)
    db.session.commit()

    def open_(invoice_id: int, keep: bool):
        services.finalize_invoice(db.session.get(Invoice, invoice_id))
        # Every third one fails after taking its number: the number goes back.
        db.session.commit() if keep else db.session.rollback()

    calls = [partial(open_, invoice_id, n % 3 != 0) for n, invoice_id in enumerate(drafts)]
    errors = [r for r in at_once(calls, app=app, catch=Exception) if isinstance(r, Exception)]
    assert errors == []
    db.session.rollback()
    numbers = db.session.scalars(
        sa.select(Invoice.number).where(Invoice.number.is_not(None)).order_by(Invoice.number)
    ).all()
    kept = sum(1 for n in range(OPENERS) if n % 3 != 0)
    year = numbers[0][4:8]
    assert numbers == [f"INV-{year}-{n:06d}" for n in range(1, kept + 1)]
