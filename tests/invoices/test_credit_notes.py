"""Credit notes: every refund of an invoiced payment is credited against its invoice; a
refund that fails later is cancelled by a reversing note, never by editing the first."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from portal.extensions import db
from portal.invoices.models import CreditNote
from portal.payments import refunds
from portal.providers.base import ProviderRefund
from tests.factories import UserFactory
from tests.invoices.conftest import invoice_of
from tests.support.ledger import assert_ledger_ok

pytestmark = pytest.mark.stripe


def notes() -> list[CreditNote]:
    db.session.expire_all()
    return db.session.scalars(sa.select(CreditNote).order_by(CreditNote.id)).all()


def test_a_students_full_refund_credits_the_whole_invoice(paid_lesson, inbox):
    payment = paid_lesson()
    refund = refunds.process_refund(payment.payer, payment.uuid, reason="plans changed")
    db.session.commit()
    invoice = invoice_of(payment)
    [note] = notes()
    assert (note.invoice_id, note.user_id, note.refund_id) == (
        invoice.id,
        payment.payer_id,
        refund.id,
    )
    assert (note.amount, note.currency, note.reason) == (4500, "usd", "plans changed")
    assert note.number == f"CN-{note.issued_at.year}-000001"
    assert invoice.status == "paid" and invoice.badge_status == "refunded"
    assert invoice.credited == invoice.total == 4500
    # The student is told, with the PDF attached; the receipt came first.
    receipt, mail = inbox
    assert mail["Subject"] == (f"Your refund of $45.00: credit note {note.number}")
    assert mail["To"] == payment.payer.email
    assert "$45.00" in mail.get_body(("plain",)).get_content()
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == f"{note.number}.pdf"
    assert attachment.get_content().startswith(b"%PDF")
    assert note.sent_at is not None
    assert_ledger_ok()


def test_an_admins_partial_refunds_each_get_a_note_and_the_invoice_reads_partly_refunded(
    paid_lesson, admin
):
    payment = paid_lesson()
    refunds.process_refund(admin, payment.uuid, amount=1000, reason="late start")
    db.session.commit()
    assert invoice_of(payment).badge_status == "partially_refunded"
    refunds.process_refund(admin, payment.uuid, amount=500)
    db.session.commit()
    first, second = notes()
    year = first.issued_at.year
    assert [(n.number, n.amount, n.reason) for n in (first, second)] == [
        (f"CN-{year}-000001", 1000, "late start"),
        (f"CN-{year}-000002", 500, "Refund"),
    ]
    invoice = invoice_of(payment)
    assert (invoice.credited, invoice.badge_status) == (1500, "partially_refunded")
    # The rest refunded: refunded in full.
    refunds.process_refund(admin, payment.uuid)
    db.session.commit()
    assert [n.amount for n in notes()] == [1000, 500, 3000]
    assert invoice_of(payment).badge_status == "refunded"
    assert_ledger_ok()


def test_a_refund_that_fails_later_is_cancelled_by_a_reversing_note(paid_lesson, admin, inbox):
    payment = paid_lesson()
    made = refunds.process_refund(admin, payment.uuid, amount=2000, reason="goodwill")
    db.session.commit()
    [note] = notes()
    failed = ProviderRefund(
        id=made.provider_refund_id, amount=2000, currency="usd", status="failed"
    )
    refunds.apply_provider_refund(payment, failed)
    db.session.commit()
    # Seen again (a repeated webhook): nothing more.
    refunds.apply_provider_refund(payment, failed)
    db.session.commit()
    original, reversal = notes()
    assert (original.id, original.amount, original.reason) == (note.id, 2000, "goodwill")
    assert (reversal.reverses_id, reversal.refund_id, reversal.amount) == (note.id, made.id, -2000)
    assert reversal.number == f"CN-{reversal.issued_at.year}-000002"
    assert note.number in reversal.reason
    invoice = invoice_of(payment)
    assert (invoice.credited, invoice.badge_status) == (0, "paid")
    subjects = [m["Subject"] for m in inbox]
    assert subjects[1:] == [
        f"Your refund of $20.00: credit note {note.number}",
        f"Refund of $20.00 not paid out: credit note {reversal.number}",
    ]
    assert "could not be paid out" in inbox[2].get_body(("plain",)).get_content()
    assert_ledger_ok()


def test_the_credit_note_pdf_is_rendered_once_and_every_download_is_the_same(
    paid_lesson, admin, login, client, bearer
):
    payment = paid_lesson()
    refunds.process_refund(admin, payment.uuid, amount=1234, reason="short lesson")
    db.session.commit()
    [note] = notes()
    invoice = invoice_of(payment)
    browser = login(payment.payer)
    url = f"/billing/invoices/{invoice.uuid}/credit-notes/{note.id}/pdf"
    first, second = browser.get(url), browser.get(url)
    api = client.get(
        f"/api/v1/invoices/{invoice.uuid}/credit-notes/{note.id}/pdf/",
        headers=bearer(payment.payer),
    )
    assert first.status_code == second.status_code == api.status_code == 200
    assert first.data == second.data == api.data and first.data.startswith(b"%PDF")
    assert f"{note.number}.pdf" in first.headers["Content-Disposition"]
    text = PdfReader(io.BytesIO(first.data)).pages[0].extract_text()
    for expected in (note.number, invoice.number, "$12.34", "short lesson", payment.payer.name):
        assert expected in text


def test_the_api_and_the_page_list_the_credit_notes(paid_lesson, admin, client, bearer, login):
    payment = paid_lesson()
    refunds.process_refund(admin, payment.uuid, amount=1000, reason="late start")
    db.session.commit()
    [note] = notes()
    invoice = invoice_of(payment)
    body = client.get(f"/api/v1/invoices/{invoice.uuid}/", headers=bearer(payment.payer)).json
    assert body["payment_id"] == str(payment.uuid)
    assert (body["kind"], body["subscription_id"], body["status"]) == ("lesson", None, "paid")
    assert body["credit_notes"] == [
        {
            "id": note.id,
            "number": note.number,
            "amount": 1000,
            "currency": "usd",
            "reason": "late start",
            "issued_at": note.issued_at.isoformat().replace("+00:00", "Z"),
            "reverses_id": None,
        }
    ]
    page = login(payment.payer).get(f"/billing/invoices/{invoice.uuid}").get_data(as_text=True)
    assert note.number in page and "partly refunded" in page and "late start" in page
    listing = login(admin).get("/admin/invoices").get_data(as_text=True)
    assert "partly refunded" in listing


def test_somebody_elses_credit_note_is_not_found(paid_lesson, admin, client, bearer, tutor):
    payment = paid_lesson()
    refunds.process_refund(admin, payment.uuid, amount=1000)
    db.session.commit()
    [note] = notes()
    invoice = invoice_of(payment)
    other = UserFactory(role="student")
    url = f"/api/v1/invoices/{invoice.uuid}/credit-notes/{note.id}/pdf/"
    assert client.get(url, headers=bearer(other)).status_code == 404
    assert client.get(url, headers=bearer(tutor)).status_code == 403
    assert client.get(url, headers=bearer(admin)).status_code == 200
    # A note of another invoice, or no note at all, under this invoice: 404.
    second = paid_lesson()
    refunds.process_refund(admin, second.uuid, amount=500)
    db.session.commit()
    theirs = notes()[-1]
    wrong = f"/api/v1/invoices/{invoice.uuid}/credit-notes/{theirs.id}/pdf/"
    assert client.get(wrong, headers=bearer(payment.payer)).status_code == 404
    for bad in ("999999", "abc", "0"):
        missing = f"/api/v1/invoices/{invoice.uuid}/credit-notes/{bad}/pdf/"
        assert client.get(missing, headers=bearer(payment.payer)).status_code == 404


def test_a_note_not_mailed_goes_out_with_the_hourly_sweep(app, paid_lesson, admin, monkeypatch):
    from datetime import timedelta

    from portal.extensions import mail
    from portal.invoices.tasks import send_missing_invoice_mail

    down = mail.init_mail(
        {**app.config, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": 9, "MAIL_SUPPRESS_SEND": False}
    )
    monkeypatch.setitem(app.extensions, "mail", down)
    payment = paid_lesson()
    refunds.process_refund(admin, payment.uuid, amount=1000)
    db.session.commit()
    [note] = notes()
    assert note.sent_at is None  # the refund went through all the same
    assert send_missing_invoice_mail() == "invoices queued: 0, credit notes queued: 0"
    note.issued_at -= timedelta(minutes=11)
    db.session.commit()
    monkeypatch.setitem(app.extensions, "mail", mail.init_mail({**app.config}))
    assert send_missing_invoice_mail() == "invoices queued: 0, credit notes queued: 1"
    assert notes()[0].sent_at is not None
    assert send_missing_invoice_mail() == "invoices queued: 0, credit notes queued: 0"
