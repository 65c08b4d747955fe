"""The student hears of every refund by exactly one e-mail, through a real SMTP server: the
credit note's for an invoiced payment, the refund notice for a payment without an invoice;
a student's refund and an admin's alike."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db, mail
from portal.invoices.models import CreditNote, Invoice
from portal.payments import refunds
from portal.payments.models import Refund
from portal.payments.refund_notices import send_missing_refund_notices
from portal.providers.base import ProviderRefund
from tests.factories import BookingFactory

pytestmark = pytest.mark.stripe


@pytest.fixture
def paid(pay, student, tutor):
    return pay(student, BookingFactory(student=student, tutor=tutor))


@pytest.fixture
def mail_down(app, monkeypatch):
    """`mail_down()` points the app's mail at a port nobody answers; `.back()` undoes it."""

    def down():
        config = {**app.config, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": 9}
        monkeypatch.setitem(app.extensions, "mail", mail.init_mail(config | _SEND))

    down.back = lambda: monkeypatch.setitem(app.extensions, "mail", mail.init_mail(app.config))
    return down


_SEND = {"MAIL_SUPPRESS_SEND": False}


def _without_invoice(payment) -> None:
    """The payment as one paid before invoices were issued: no invoice to credit."""
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.payment_id == payment.id))
    db.session.delete(invoice)
    db.session.commit()


def _body(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_a_students_refund_of_an_invoiced_lesson_is_one_email_with_its_credit_note(
    paid, student, inbox
):
    receipts = len(inbox)
    refunds.process_refund(student, paid.uuid, reason="Plans changed")
    db.session.commit()
    [message] = inbox[receipts:]
    note = db.session.scalars(sa.select(CreditNote)).one()
    assert message["To"] == student.email
    assert message["Subject"].startswith("Your refund of $45.00: credit note " + note.number)
    assert "We refunded $45.00" in _body(message)
    assert [a.get_filename() for a in message.iter_attachments()] == [f"{note.number}.pdf"]
    assert db.session.scalars(sa.select(Refund)).one().notice_sent_at is None


def test_each_admin_refund_of_an_invoiced_lesson_is_one_email(paid, admin, student, inbox):
    receipts = len(inbox)
    refunds.process_refund(admin, paid.uuid, amount=1000, reason="Late start")
    db.session.commit()
    refunds.process_refund(admin, paid.uuid, reason="Tutor ill")
    db.session.commit()
    subjects = [m["Subject"] for m in inbox[receipts:]]
    assert [s.split(":")[0] for s in subjects] == [
        "Your refund of $10.00",
        "Your refund of $35.00",
    ]
    assert {m["To"] for m in inbox[receipts:]} == {student.email}


def test_a_refund_of_a_payment_without_an_invoice_gets_the_refund_notice(
    paid, admin, student, tutor, inbox
):
    _without_invoice(paid)
    receipts = len(inbox)
    refunds.process_refund(admin, paid.uuid, amount=1500, reason="Shortened lesson")
    db.session.commit()
    [message] = inbox[receipts:]
    assert message["To"] == student.email
    assert message["Subject"] == "Your refund of $15.00 from M4SH"
    text = _body(message)
    assert f"for your lesson with {tutor.name}" in text
    assert "card ending 4242" in text and "Reason: Shortened lesson" in text
    assert "Of the $45.00 you paid, $15.00 has been refunded so far." in text
    assert f"/billing/payments/{paid.uuid}" in text
    assert "We refunded <strong>$15.00</strong>" in message.get_body(("html",)).get_content()
    assert not list(message.iter_attachments())
    assert db.session.scalars(sa.select(CreditNote)).all() == []
    # The student's own full refund of the rest: one more notice, saying the lesson is off.
    refunds.process_refund(admin, paid.uuid, reason="Tutor ill")
    db.session.commit()
    [_, last] = inbox[receipts:]
    assert last["Subject"] == "Your refund of $30.00 from M4SH"
    assert "The lesson is cancelled." in _body(last)
    assert all(r.notice_sent_at for r in db.session.scalars(sa.select(Refund)))


def test_a_refund_reported_by_the_provider_alone_is_told_once(paid, student, inbox):
    """A refund made at Stripe's dashboard reaches us by webhook, once or twice."""
    _without_invoice(paid)
    receipts = len(inbox)
    made = ProviderRefund(id="re_dashboard_1", amount=4500, currency="usd", status="succeeded")
    for _ in range(2):
        refunds.apply_provider_refund(paid, made)
        db.session.commit()
    [message] = inbox[receipts:]
    assert message["Subject"] == "Your refund of $45.00 from M4SH"


def test_a_notice_not_mailed_goes_out_with_the_hourly_sweep(app, paid, admin, mail_down):
    _without_invoice(paid)
    mail_down()
    refund = refunds.process_refund(admin, paid.uuid, amount=1000)
    db.session.commit()
    assert refund.notice_sent_at is None  # the refund went through all the same
    assert send_missing_refund_notices() == "refund notices queued: 0"  # too soon
    refund.created_at -= timedelta(minutes=11)
    db.session.commit()
    mail_down.back()
    assert send_missing_refund_notices() == "refund notices queued: 1"
    db.session.expire_all()
    assert db.session.get(Refund, refund.id).notice_sent_at is not None
    assert send_missing_refund_notices() == "refund notices queued: 0"


def test_a_refund_that_failed_at_the_provider_gets_no_refund_notice_from_the_sweep(
    paid, admin, mail_down
):
    _without_invoice(paid)
    mail_down()
    refund = refunds.process_refund(admin, paid.uuid, amount=1000)
    db.session.commit()
    failed = ProviderRefund(
        id=refund.provider_refund_id, amount=1000, currency="usd", status="failed"
    )
    refunds.apply_provider_refund(paid, failed)
    refund.created_at -= timedelta(minutes=11)
    db.session.commit()
    assert send_missing_refund_notices() == "refund notices queued: 0"
