"""The admins' invoice actions over JSON: draft a manual invoice, open (finalize) it, void it.

`POST /api/v1/admin/invoices/` takes `{"student_id", "items": [{"description", "quantity",
"unit_price"}], "discount"?}` (amounts in minor units, integers) and answers 201 with the
draft; `…/{id}/finalize/` opens it and e-mails it to the student once committed;
`…/{id}/void/` voids an open one. Paid and void are final: any other step is a 409.
"""

from __future__ import annotations

from flask import jsonify
from flask_login import current_user

from portal.accounts.decorators import admin_required
from portal.after_commit import enqueue_after_commit
from portal.api import api_blueprint, int_field, json_body, str_field
from portal.errors import InvalidTransition, ValidationError
from portal.extensions import db
from portal.invoices import services
from portal.invoices.api import invoice_json
from portal.invoices.models import InvoiceStatus
from portal.invoices.services import Line
from portal.invoices.tasks import send_invoice_mail
from portal.payments.invoice_payments import void_open_invoice

bp = api_blueprint("invoices_admin_api", __name__, "/admin/invoices")

ITEM_FIELDS = {"description", "quantity", "unit_price"}


def lines_from_json(items: object) -> list[Line]:
    """The request's items as lines, or a 400 naming the first thing wrong with them."""
    if not isinstance(items, list) or not items:
        raise ValidationError(
            "items must be a list of at least one line.", fields={"items": ["Add a line."]}
        )
    if len(items) > services.MAX_LINES:
        raise ValidationError(
            f"At most {services.MAX_LINES} lines.", fields={"items": ["Too many lines."]}
        )
    lines = []
    for item in items:
        if not isinstance(item, dict):
            raise ValidationError(
                "Each item must be an object.", fields={"items": ["Not an object."]}
            )
        unknown = sorted(set(item) - ITEM_FIELDS)
        if unknown:
            raise ValidationError(
                f"Unknown item field(s): {', '.join(unknown)}.",
                fields={name: ["Unknown field."] for name in unknown},
            )
        description = str_field(item, "description") or ""
        quantity = int_field(item, "quantity", minimum=1, maximum=services.MAX_QUANTITY)
        unit_price = int_field(item, "unit_price", minimum=1)
        lines.append(Line(description, quantity, unit_price))
    return services.check_lines(lines)


@bp.post("/")
@admin_required
def create():
    data = json_body({"student_id", "items", "discount"})
    discount = int_field(data, "discount", required=False, minimum=0)
    invoice = services.draft_manual_invoice(
        student_id=data.get("student_id"),
        lines=lines_from_json(data.get("items")),
        discount=discount or 0,
    )
    body = invoice_json(invoice)
    db.session.commit()
    return jsonify(body), 201


@bp.post("/<uuid:invoice_id>/finalize/")
@admin_required
def finalize(invoice_id):
    invoice = services.finalize_invoice(services.get_invoice_for(current_user, invoice_id))
    enqueue_after_commit(send_invoice_mail, invoice.id)
    body = invoice_json(invoice)
    db.session.commit()
    return jsonify(body)


@bp.post("/<uuid:invoice_id>/void/")
@admin_required
def void(invoice_id):
    invoice = void_open_invoice(current_user, invoice_id)
    body = invoice_json(invoice)
    db.session.commit()
    if invoice.status != InvoiceStatus.VOID:
        raise InvalidTransition("This invoice was paid just now and cannot be voided.")
    return jsonify(body)
