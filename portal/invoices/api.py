"""The invoices JSON API: a student's invoices (an admin's: everyone's), one invoice, its
PDF and its credit notes' PDFs, and paying an open invoice.

`POST /api/v1/invoices/{id}/pay/` answers like a lesson's payment intent and is confirmed
the same way (`POST /api/v1/payments/{id}/confirm/`)."""

from __future__ import annotations

from flask_login import current_user

from portal.accounts.decorators import roles_required, student_required
from portal.api import api_blueprint, paginate
from portal.contract.schemas import Page, PageQuery
from portal.contract.spec import operation
from portal.db import unit_of_work
from portal.invoices import services
from portal.invoices.schemas import InvoiceAnswer, InvoicePayRequest
from portal.invoices.views import send_credit_note_pdf, send_pdf
from portal.payments.invoice_payments import create_invoice_payment_intent
from portal.payments.schemas import PaymentStepAnswer

bp = api_blueprint("invoices_api", __name__, "/invoices")


@bp.get("/")
@roles_required("student", "admin")
@operation({200: Page[InvoiceAnswer]})
def index(query: PageQuery):
    """List invoices

    A student's own once opened (drafts stay the admins'), everyone's for an admin;
    newest first.
    """
    return paginate(services.invoices_for(current_user), InvoiceAnswer.model_validate, page=query)


@bp.get("/<uuid:invoice_id>/")
@roles_required("student", "admin")
@operation({200: InvoiceAnswer})
def detail(invoice_id):
    """One invoice, with its lines and credit notes"""
    return InvoiceAnswer.model_validate(services.get_invoice_for(current_user, invoice_id))


@bp.get("/<uuid:invoice_id>/pdf/")
@roles_required("student", "admin")
@operation({200: (None, "The invoice as a PDF.")}, errors=(409,), file="application/pdf")
def pdf(invoice_id):
    """Download an invoice's PDF

    Rendered on the first download and stored: every download returns the same bytes. A
    draft has none yet: 409 `invalid_transition`.
    """
    return send_pdf(services.get_invoice_for(current_user, invoice_id))


@bp.get("/<uuid:invoice_id>/credit-notes/<int:note_id>/pdf/")
@roles_required("student", "admin")
@operation({200: (None, "The credit note as a PDF.")}, file="application/pdf")
def credit_note_pdf(invoice_id, note_id: int):
    """Download a credit note's PDF

    A note of this invoice only; rendered once and stored, like the invoice's.
    """
    return send_credit_note_pdf(invoice_id, note_id)


@bp.post("/<uuid:invoice_id>/pay/")
@student_required
@operation(
    {201: (PaymentStepAnswer, "A new payment attempt for the invoice."),
     200: (PaymentStepAnswer, "The invoice's attempt already under way.")},
    errors=(409, 502),
    idempotent=True,
)  # fmt: skip
def pay(invoice_id, json: InvoicePayRequest):
    """Start paying an open invoice

    Answers a payment of kind `invoice` for the invoice's total, confirmed like a lesson's
    (`POST /api/v1/payments/{id}/confirm/`). Asked again while an attempt is under way it
    answers that attempt (200). A draft is not found; a paid or void invoice is 409.
    """
    with unit_of_work():
        step = create_invoice_payment_intent(
            current_user, invoice_id, payment_method_id=json.payment_method_id
        )
        answer = PaymentStepAnswer.of_step(step)
    return answer, 201 if step.created else 200
