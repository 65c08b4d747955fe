from __future__ import annotations

import pytest

from portal.extensions import db
from portal.invoices.models import Invoice
from portal.payments import services
from tests.factories import BookingFactory
from tests.localstripe_server import VISA


@pytest.fixture
def paid_lesson(localstripe, student, tutor):
    """`paid_lesson()` → a lesson payment that went through (with the card), committed."""

    def _paid_lesson(who=None):
        payer = who or student
        lesson = BookingFactory(student=payer, tutor=tutor)
        step = services.create_payment_intent(payer, lesson.id)
        step = services.confirm_payment(
            payer, step.payment.uuid, provider_method_id=localstripe.token(VISA)
        )
        db.session.commit()
        return step.payment

    return _paid_lesson


def invoice_of(payment) -> Invoice:
    db.session.expire_all()
    return db.session.query(Invoice).filter_by(payment_id=payment.id).one()
