"""The invoices JSON API: a student's invoices (an admin's: everyone's), one invoice, its PDF."""

from __future__ import annotations

from flask import jsonify
from flask_login import current_user

from portal.accounts.decorators import roles_required
from portal.api import api_blueprint, iso, paginate
from portal.invoices import services
from portal.invoices.models import CreditNote, Invoice
from portal.invoices.views import send_credit_note_pdf, send_pdf

bp = api_blueprint("invoices_api", __name__, "/invoices")


def invoice_json(invoice: Invoice) -> dict:
    return {
        "id": str(invoice.uuid),
        "number": invoice.number,
        "status": invoice.display_status,
        "currency": invoice.currency,
        "subtotal": invoice.subtotal,
        "discount": invoice.discount,
        "tax_rate": str(invoice.tax_rate),
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
