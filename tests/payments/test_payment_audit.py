"""Payment events land in the audit log, whichever path moved the money."""

import pytest

from portal.audit.models import AuditLog
from portal.extensions import db
from portal.payments import refunds
from tests.support.localstripe import DECLINED

pytestmark = pytest.mark.stripe


def _rows():
    return [
        (r.action, r.actor_id, r.before, r.after)
        for r in db.session.query(AuditLog).order_by(AuditLog.id)
    ]


def test_a_paid_then_refunded_lesson_leaves_two_rows(student, admin, lesson, pay):
    payment = pay(student, lesson)
    refunds.process_refund(admin, payment.uuid, amount=2000, reason="Lesson cut short")
    db.session.commit()
    (paid, refunded) = _rows()
    assert paid[0:3] == ("payment.succeeded", student.id, {"status": "pending"})
    assert paid[3]["status"] == "succeeded" and paid[3]["amount"] == 4500
    assert refunded[0:3] == ("payment.refunded", admin.id, {"amount_refunded": 0})
    assert refunded[3]["refund"] == 2000 and refunded[3]["amount_refunded"] == 2000
    assert refunded[3]["reason"] == "Lesson cut short"


def test_a_declined_card_is_logged_as_failed(student, lesson, pay):
    pay(student, lesson, number=DECLINED)
    assert [row[0] for row in _rows()] == ["payment.failed"]
