from __future__ import annotations

import pytest

from portal.extensions import db
from portal.invoices.models import Invoice
from tests.factories import BookingFactory


@pytest.fixture
def paid_lesson(pay, student, tutor):
    """`paid_lesson(who=student)` → a lesson payment that went through (with the card)."""

    def _paid_lesson(who=None):
        payer = who or student
        return pay(payer, BookingFactory(student=payer, tutor=tutor))

    return _paid_lesson


def invoice_of(payment) -> Invoice:
    db.session.expire_all()
    return db.session.query(Invoice).filter_by(payment_id=payment.id).one()
