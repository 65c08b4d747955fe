"""The invoice and credit note PDFs, and the e-mails that carry them (receipt, credit note).

The PDF is rendered by WeasyPrint from an HTML template the first time anyone needs it
(a download, the receipt), outside any lock, and stored with a conditional update: if
two renders race, the first stored one wins and both callers get those bytes. From then
on every download returns exactly the stored bytes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, render_template
from flask_mail import Message

from portal import emails
from portal.db import utcnow
from portal.errors import InvalidTransition
from portal.extensions import db
from portal.invoices.models import CreditNote, Invoice, InvoiceKind, InvoiceStatus
from portal.money import format_money
from portal.rendering import portal_url

RECEIPT_GRACE = timedelta(minutes=10)
RECEIPT_WINDOW = timedelta(days=7)
RECEIPT_BATCH = 500


def invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice's PDF: the stored one, or rendered now and stored (the caller commits)."""
    if invoice.status == InvoiceStatus.DRAFT:
        raise InvalidTransition("A draft invoice has no PDF yet; open it first.")
    return _stored_or_rendered(Invoice, invoice.id, lambda: render_pdf(invoice))


def render_pdf(invoice: Invoice) -> bytes:
    return _write_pdf(render_template("invoices/pdf.html", invoice=invoice))


def _write_pdf(html: str) -> bytes:
    # WeasyPrint takes a while to import; only the processes that render pay for it.
    from weasyprint import HTML

    return HTML(string=html, base_url=current_app.static_folder).write_pdf()


def credit_note_pdf(note: CreditNote) -> bytes:
    """The credit note's PDF: the stored one, or rendered now and stored (the caller
    commits)."""
    return _stored_or_rendered(
        CreditNote,
        note.id,
        lambda: _write_pdf(
            render_template("invoices/credit_note_pdf.html", note=note, invoice=note.invoice)
        ),
    )


def _stored_or_rendered(model, row_id: int, render) -> bytes:
    """A document's stored PDF, or `render()` stored only where none is yet: when two
    render at once, the first stored wins and both answer with it."""
    stored = _stored(model, row_id)
    if stored is not None:
        return stored
    db.session.execute(
        sa.update(model)
        .where(model.id == row_id, model.pdf.is_(None))
        .values(pdf=render(), pdf_rendered_at=utcnow())
    )
    return _stored(model, row_id)


def _stored(model, row_id: int) -> bytes | None:
    return db.session.scalar(sa.select(model.pdf).where(model.id == row_id))


def credit_note_message(note: CreditNote) -> Message:
    """The e-mail telling the student about a credit note, with its PDF attached."""
    invoice = note.invoice
    links = {
        "invoice_url": portal_url("invoices.detail", invoice_id=invoice.uuid),
        "pdf_url": portal_url(
            "invoices.credit_note_pdf_download", invoice_id=invoice.uuid, note_id=note.id
        ),
    }
    message = emails.compose(
        "credit_note",
        subject=credit_note_subject(note),
        to=[note.user.email],
        note=note,
        invoice=invoice,
        **links,
    )
    message.attach(f"{note.number}.pdf", "application/pdf", credit_note_pdf(note))
    return message


def credit_note_subject(note: CreditNote) -> str:
    """A credit note's e-mail is the student's notice of the refund it records, so its
    subject names the refund first."""
    amount = format_money(abs(note.amount), note.currency)
    if note.is_reversal:
        return f"Refund of {amount} not paid out: credit note {note.number}"
    return f"Your refund of {amount}: credit note {note.number}"


def send_credit_note(note_id: int) -> bool:
    """E-mail a credit note unless it has been; True if this call sent it (at least once,
    rarely twice, never lost: `emails.send_once`)."""
    unsent = sa.select(CreditNote).where(CreditNote.id == note_id, CreditNote.sent_at.is_(None))
    return emails.send_once(unsent, credit_note_message, "sent_at")


def invoice_message(invoice: Invoice) -> Message:
    """An opened invoice going out to its student: a link to pay it, and its PDF."""
    links = {"invoice_url": portal_url("invoices.detail", invoice_id=invoice.uuid)}
    total = format_money(invoice.total, invoice.currency)
    message = emails.compose(
        "invoice",
        subject=f"Invoice {invoice.number} from M4SH: {total}",
        to=[invoice.user.email],
        invoice=invoice,
        **links,
    )
    message.attach(f"{invoice.number}.pdf", "application/pdf", invoice_pdf(invoice))
    return message


def send_invoice(invoice_id: int) -> bool:
    """E-mail an opened invoice unless it has gone out; True if this call sent it."""
    unsent = sa.select(Invoice).where(
        Invoice.id == invoice_id,
        Invoice.status != InvoiceStatus.DRAFT,
        Invoice.sent_at.is_(None),
    )
    return emails.send_once(unsent, invoice_message, "sent_at")


def receipt_message(invoice: Invoice) -> Message:
    """The payment receipt for a paid invoice, linking to the invoice and its PDF."""
    links = {
        "invoice_url": portal_url("invoices.detail", invoice_id=invoice.uuid),
        "pdf_url": portal_url("invoices.pdf", invoice_id=invoice.uuid),
    }
    return emails.compose(
        "receipt",
        subject=f"Your receipt from M4SH: {invoice.number}",
        to=[invoice.user.email],
        invoice=invoice,
        **links,
    )


def send_receipt(invoice_id: int) -> bool:
    """Send the receipt of a paid invoice unless it has been sent; True if this call sent
    it. The invoice row stays locked while the mail goes out and is marked sent in the
    same transaction (`emails.send_once`): a payer may rarely get it twice, never not at
    all (a retry or `send_missing_receipts` sends one whose commit was lost)."""
    unsent = sa.select(Invoice).where(
        Invoice.id == invoice_id,
        Invoice.status == InvoiceStatus.PAID,
        Invoice.receipt_sent_at.is_(None),
    )
    return emails.send_once(unsent, receipt_message, "receipt_sent_at")


def unsent_receipt_ids(now: datetime) -> list[int]:
    """Paid invoices of the last week whose receipt has not gone out after a few minutes
    (time enough for the task queued with the payment)."""
    return list(
        db.session.scalars(
            sa.select(Invoice.id)
            .where(
                Invoice.status == InvoiceStatus.PAID,
                Invoice.receipt_sent_at.is_(None),
                Invoice.paid_at < now - RECEIPT_GRACE,
                Invoice.paid_at >= now - RECEIPT_WINDOW,
            )
            .order_by(Invoice.paid_at)
            .limit(RECEIPT_BATCH)
        )
    )


def unsent_document_ids(now: datetime) -> tuple[list[int], list[int]]:
    """(opened invoices, credit notes) of the last week not e-mailed after a few minutes."""
    since, until = now - RECEIPT_WINDOW, now - RECEIPT_GRACE
    invoices = db.session.scalars(
        sa.select(Invoice.id)
        .where(
            Invoice.kind == InvoiceKind.MANUAL,
            Invoice.status != InvoiceStatus.DRAFT,
            Invoice.sent_at.is_(None),
            Invoice.issued_at.between(since, until),
        )
        .order_by(Invoice.issued_at)
        .limit(RECEIPT_BATCH)
    ).all()
    notes = db.session.scalars(
        sa.select(CreditNote.id)
        .where(CreditNote.sent_at.is_(None), CreditNote.issued_at.between(since, until))
        .order_by(CreditNote.issued_at)
        .limit(RECEIPT_BATCH)
    ).all()
    return list(invoices), list(notes)
