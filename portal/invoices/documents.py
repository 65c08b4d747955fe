"""The invoice PDF and the payment receipt e-mail.

The PDF is rendered by WeasyPrint from an HTML template the first time anyone needs it
(a download, the receipt), outside any lock, and stored with a conditional update: if
two renders race, the first stored one wins and both callers get those bytes. From then
on every download returns exactly the stored bytes.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app, render_template
from flask_mail import Message

from portal.db import utcnow
from portal.errors import InvalidTransition
from portal.extensions import db, mail
from portal.invoices.models import Invoice, InvoiceStatus


def invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice's PDF: the stored one, or rendered now and stored (then committed)."""
    if invoice.status == InvoiceStatus.DRAFT:
        raise InvalidTransition("A draft invoice has no PDF yet; open it first.")
    stored = _stored_pdf(invoice.id)
    if stored is not None:
        return stored
    rendered = render_pdf(invoice)
    db.session.execute(
        sa.update(Invoice)
        .where(Invoice.id == invoice.id, Invoice.pdf.is_(None))
        .values(pdf=rendered, pdf_rendered_at=utcnow())
    )
    db.session.commit()
    return _stored_pdf(invoice.id)


def _stored_pdf(invoice_id: int) -> bytes | None:
    return db.session.scalar(sa.select(Invoice.pdf).where(Invoice.id == invoice_id))


def render_pdf(invoice: Invoice) -> bytes:
    # WeasyPrint takes a while to import; only the processes that render pay for it.
    from weasyprint import HTML

    html = render_template("invoices/pdf.html", invoice=invoice)
    return HTML(string=html, base_url=current_app.static_folder).write_pdf()


def receipt_message(invoice: Invoice) -> Message:
    """The payment receipt for a paid invoice, linking to the invoice and its PDF."""
    links = {
        "invoice_url": portal_url("invoices.detail", invoice_id=invoice.uuid),
        "pdf_url": portal_url("invoices.pdf", invoice_id=invoice.uuid),
    }
    return Message(
        subject=f"Your receipt from M4SH: {invoice.number}",
        recipients=[invoice.user.email],
        body=render_template("invoices/receipt.txt", invoice=invoice, **links),
        html=render_template("invoices/receipt.html", invoice=invoice, **links),
    )


def portal_url(endpoint: str, **values) -> str:
    """An absolute link into the portal, also from a worker with no request to go by."""
    base = urlsplit(current_app.config["PORTAL_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "http"
    )
    return adapter.build(endpoint, values, force_external=True)


def send_receipt(invoice_id: int) -> bool:
    """Send the receipt of a paid invoice once; False if it was already sent (or claimed).

    The invoice is claimed first and the claim committed, so two workers never both send;
    if sending fails the claim is given back for the retry.
    """
    claimed = db.session.execute(
        sa.update(Invoice)
        .where(
            Invoice.id == invoice_id,
            Invoice.status == InvoiceStatus.PAID,
            Invoice.receipt_sent_at.is_(None),
        )
        .values(receipt_sent_at=utcnow())
    ).rowcount
    db.session.commit()
    if not claimed:
        return False
    try:
        mail.send(receipt_message(db.session.get(Invoice, invoice_id)))
    except Exception:
        db.session.rollback()
        db.session.execute(
            sa.update(Invoice).where(Invoice.id == invoice_id).values(receipt_sent_at=None)
        )
        db.session.commit()
        raise
    return True
