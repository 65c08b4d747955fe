"""The admins' invoice actions over JSON: draft a manual invoice, open (finalize) it, void it.

`POST /api/v1/admin/invoices/` takes `{"student_id", "items": [{"description", "quantity",
"unit_price"}], "discount"?}` (amounts in minor units, integers) and answers 201 with the
draft; `…/{id}/finalize/` opens it and e-mails it to the student once committed;
`…/{id}/void/` voids an open one. Paid and void are final: any other step is a 409.
"""

from __future__ import annotations

from flask_login import current_user

from portal.accounts.decorators import admin_required
from portal.after_commit import enqueue_after_commit
from portal.api import api_blueprint
from portal.contract.spec import operation
from portal.db import unit_of_work
from portal.errors import InvalidTransition
from portal.invoices import services
from portal.invoices.models import InvoiceStatus
from portal.invoices.schemas import DraftRequest, InvoiceAnswer
from portal.invoices.services import Line
from portal.invoices.tasks import send_invoice_mail
from portal.payments.invoice_payments import void_open_invoice

bp = api_blueprint("invoices_admin_api", __name__, "/admin/invoices")


@bp.post("/")
@admin_required
@operation(
    {201: InvoiceAnswer},
    idempotent=True,
    rules="the student exists and is an active student; the discount is at most the "
    "subtotal; a unit price is at most `MAX_AMOUNT`, a setting.",
)
def create(json: DraftRequest):
    """Draft a manual invoice for a student

    The draft shows its totals without tax; opening it fixes the tax at the day's rate,
    its number and its due date.
    """
    lines = [Line(item.description, item.quantity, item.unit_price) for item in json.items]
    with unit_of_work():
        invoice = services.draft_manual_invoice(
            student_id=json.student_id, lines=lines, discount=json.discount
        )
        answer = InvoiceAnswer.model_validate(invoice)
    return answer, 201


@bp.post("/<uuid:invoice_id>/finalize/")
@admin_required
@operation({200: InvoiceAnswer}, errors=(409,), idempotent=True)
def finalize(invoice_id):
    """Open a draft invoice

    Numbers it (INV-YYYY-NNNNNN), fixes its tax at the day's rate and its due date, and
    e-mails it to the student with its PDF once committed. Only a draft opens (409).
    """
    with unit_of_work():
        invoice = services.finalize_invoice(services.get_invoice_for(current_user, invoice_id))
        enqueue_after_commit(send_invoice_mail, invoice.id)
        answer = InvoiceAnswer.model_validate(invoice)
    return answer


@bp.post("/<uuid:invoice_id>/void/")
@admin_required
@operation({200: InvoiceAnswer}, errors=(409, 502))
def void(invoice_id):
    """Void an open invoice

    An attempt to pay it still under way at Stripe is cancelled first; if that attempt was
    paid after all, the payment is recorded, the invoice is paid and the answer is 409.
    Drafts, paid and void invoices are 409.
    """
    with unit_of_work():
        invoice = void_open_invoice(current_user, invoice_id)
        answer = InvoiceAnswer.model_validate(invoice)
    if invoice.status != InvoiceStatus.VOID:
        raise InvalidTransition("This invoice was paid just now and cannot be voided.")
    return answer
