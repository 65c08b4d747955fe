"""Invoice pages: a student's list, one invoice (also for admins), its PDF and its credit
notes' PDFs, and paying an open invoice (on the card payment page lessons use)."""

from __future__ import annotations

import io

from flask import Blueprint, redirect, request, send_file, url_for
from flask_login import current_user

from portal.accounts.decorators import roles_required, student_required
from portal.db import unit_of_work
from portal.extensions import db
from portal.invoices import services
from portal.invoices.credit_notes import get_credit_note_for
from portal.invoices.documents import credit_note_pdf, invoice_pdf
from portal.pagination import Page
from portal.payments.invoice_payments import create_invoice_payment_intent
from portal.rendering import render_page

bp = Blueprint("invoices", __name__, url_prefix="/billing/invoices")


@bp.get("")
@student_required
def index():
    page = Page.of(services.invoices_for(current_user), request.args.get("page"))
    return render_page("invoices/index.html", {"page": page}, fragments={"invoices": "invoices"})


@bp.get("/<uuid:invoice_id>")
@roles_required("student", "admin")
def detail(invoice_id):
    invoice = services.get_invoice_for(current_user, invoice_id)
    return render_page("invoices/detail.html", {"invoice": invoice})


@bp.post("/<uuid:invoice_id>/pay")
@student_required
def pay(invoice_id):
    """Start (or resume) paying an open invoice, on the same payment page as a lesson."""
    step = create_invoice_payment_intent(current_user, invoice_id)
    db.session.commit()
    return redirect(url_for("payments.payment", payment_id=step.payment.uuid), code=303)


@bp.get("/<uuid:invoice_id>/pdf")
@roles_required("student", "admin")
def pdf(invoice_id):
    return send_pdf(services.get_invoice_for(current_user, invoice_id))


@bp.get("/<uuid:invoice_id>/credit-notes/<note_id>/pdf")
@roles_required("student", "admin")
def credit_note_pdf_download(invoice_id, note_id):
    return send_credit_note_pdf(invoice_id, note_id)


def send_pdf(invoice):
    with unit_of_work():  # a PDF rendered now is stored for every later download
        pdf = invoice_pdf(invoice)
    return _attachment(pdf, invoice.number)


def send_credit_note_pdf(invoice_id, note_id):
    invoice = services.get_invoice_for(current_user, invoice_id)
    note = get_credit_note_for(current_user, invoice, note_id)
    with unit_of_work():
        pdf = credit_note_pdf(note)
    return _attachment(pdf, note.number)


def _attachment(pdf: bytes, number: str):
    return send_file(
        io.BytesIO(pdf),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"{number}.pdf",
    )
