"""The invoices JSON API: a student's invoices (an admin's: everyone's), one invoice, its
PDF and its credit notes' PDFs, and paying an open invoice.

`POST /api/v1/invoices/{id}/pay/` answers like a lesson's payment intent and is confirmed
the same way (`POST /api/v1/payments/{id}/confirm/`)."""

from __future__ import annotations

from decimal import Decimal

from flask import jsonify
from flask_login import current_user

from portal.accounts.decorators import roles_required, student_required
from portal.api import api_blueprint, iso, json_body, paginate
from portal.extensions import db
from portal.invoices import services
from portal.invoices.models import CreditNote, Invoice
from portal.invoices.views import send_credit_note_pdf, send_pdf
from portal.payments.api import step_json
from portal.payments.invoice_payments import create_invoice_payment_intent

bp = api_blueprint("invoices_api", __name__, "/invoices")


def invoice_json(invoice: Invoice) -> dict:
    return {
        "id": str(invoice.uuid),
        "number": invoice.number,
        "status": invoice.display_status,
        "currency": invoice.currency,
        "subtotal": invoice.subtotal,
        "discount": invoice.discount,
        "tax_rate": f"{Decimal(invoice.tax_rate):.2f}",
        "tax": invoice.tax,
        "total": invoice.total,
        "issued_at": iso(invoice.issued_at),
        "due_at": iso(invoice.due_at),
        "paid_at": iso(invoice.paid_at),
        "voided_at": iso(invoice.voided_at),
        "items": [
            {
                "description": item.description,
                "quantity": item.quantity,
                "unit_price": item.unit_price,
                "total": item.total,
                "booking_id": item.booking_id,
            }
            for item in invoice.items
        ],
        "payment_id": str(invoice.payment.uuid) if invoice.payment else None,
        "subscription_id": invoice.subscription_id,
        "kind": invoice.kind,
        "credited": invoice.credited,
        "credit_notes": [credit_note_json(note) for note in invoice.credit_notes],
    }


def credit_note_json(note: CreditNote) -> dict:
    return {
        "id": note.id,
        "number": note.number,
        "amount": note.amount,
        "currency": note.currency,
        "reason": note.reason,
        "issued_at": iso(note.issued_at),
        "reverses_id": note.reverses_id,
    }


@bp.get("/")
@roles_required("student", "admin")
def index():
    return jsonify(paginate(services.invoices_for(current_user), invoice_json))


@bp.get("/<uuid:invoice_id>/")
@roles_required("student", "admin")
def detail(invoice_id):
    return jsonify(invoice_json(services.get_invoice_for(current_user, invoice_id)))


@bp.get("/<uuid:invoice_id>/pdf/")
@roles_required("student", "admin")
def pdf(invoice_id):
    return send_pdf(services.get_invoice_for(current_user, invoice_id))


@bp.get("/<uuid:invoice_id>/credit-notes/<note_id>/pdf/")
@roles_required("student", "admin")
def credit_note_pdf(invoice_id, note_id):
    return send_credit_note_pdf(invoice_id, note_id)


@bp.post("/<uuid:invoice_id>/pay/")
@student_required
def pay(invoice_id):
    data = json_body({"payment_method_id"}, required=False)
    step = create_invoice_payment_intent(
        current_user, invoice_id, payment_method_id=data.get("payment_method_id")
    )
    body = step_json(step)
    db.session.commit()
    return jsonify(body), 201 if step.created else 200
