"""The admins' invoice actions on pages: draft a manual invoice (an htmx form that adds
and removes lines and shows the totals as they are typed), open (finalize) a draft and
e-mail it, void an open one; and the overdue invoices, shown apart on the list."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user

from portal.accounts.decorators import admin_required
from portal.accounts.models import Role, User
from portal.after_commit import enqueue_after_commit
from portal.db import utcnow
from portal.errors import PortalError
from portal.extensions import db
from portal.invoices import services
from portal.invoices.drafting import DraftInput
from portal.invoices.models import Invoice, InvoiceStatus
from portal.invoices.tasks import send_invoice_mail
from portal.payments.invoice_payments import void_open_invoice
from portal.rendering import render_page

bp = Blueprint("invoices_actions", __name__, url_prefix="/admin/invoices")

MAX_STUDENTS = 500


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def new():
    if request.method == "GET":
        return _draft_page(DraftInput())
    draft = DraftInput.read(request.form)
    action = request.form.get("action", "save")
    if action == "add":
        draft.add_line()
        return _draft_page(draft, show_errors=False, focus_last=True)
    if action.startswith("remove-") and action[7:].isdigit():
        draft.remove_line(int(action[7:]))
        return _draft_page(draft, show_errors=False)
    if action == "totals":
        return _draft_page(draft, show_errors=False)
    if draft.errors:
        return _draft_page(draft, status=422)
    try:
        invoice = services.draft_manual_invoice(
            student_id=draft.student_id, lines=draft.parsed, discount=draft.discount_minor
        )
    except PortalError as exc:
        db.session.rollback()
        draft.errors.update({name: " ".join(m) for name, m in (exc.fields or {}).items()})
        draft.errors.setdefault("form", exc.message)
        return _draft_page(draft, status=422)
    db.session.commit()
    flash("The draft is saved. Check it, then open it to send it to the student.", "success")
    return redirect(url_for("invoices.detail", invoice_id=invoice.uuid), code=303)


def _draft_page(
    draft: DraftInput, *, show_errors: bool = True, focus_last: bool = False, status: int = 200
):
    rate = current_app.config["TAX_RATE_PERCENT"]
    return render_page(
        "invoices/new.html",
        {
            "draft": draft,
            "errors": draft.errors if show_errors else {},
            "totals": draft.totals(rate),
            "tax_rate": rate,
            "students": _students(),
            "focus_last": focus_last,
        },
        fragments={"draft-form": "draft_form", "draft-totals": "draft_totals"},
        http_status=status,
    )


def _students() -> list[User]:
    return db.session.scalars(
        sa.select(User).where(User.role == Role.STUDENT).order_by(User.name).limit(MAX_STUDENTS)
    ).all()


@bp.post("/<uuid:invoice_id>/finalize")
@admin_required
def finalize(invoice_id):
    try:
        invoice = services.finalize_invoice(services.get_invoice_for(current_user, invoice_id))
    except PortalError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("invoices.detail", invoice_id=invoice_id), code=303)
    enqueue_after_commit(send_invoice_mail, invoice.id)
    db.session.commit()
    flash(f"Invoice {invoice.number} is open and on its way to {invoice.user.email}.", "success")
    return redirect(url_for("invoices.detail", invoice_id=invoice_id), code=303)


@bp.post("/<uuid:invoice_id>/void")
@admin_required
def void(invoice_id):
    try:
        invoice = void_open_invoice(current_user, invoice_id)
    except PortalError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("invoices.detail", invoice_id=invoice_id), code=303)
    db.session.commit()
    if invoice.status == InvoiceStatus.VOID:
        flash(f"Invoice {invoice.number} is void.", "success")
    else:
        flash("This invoice was paid just now and cannot be voided.", "error")
    return redirect(url_for("invoices.detail", invoice_id=invoice_id), code=303)


@bp.get("/overdue")
@admin_required
def overdue():
    """The overdue invoices, for the list page to show apart (loaded by htmx)."""
    invoices = db.session.scalars(
        sa.select(Invoice)
        .where(Invoice.status == InvoiceStatus.OPEN, Invoice.due_at < utcnow())
        .order_by(Invoice.due_at)
        .limit(100)
    ).all()
    return render_page("invoices/_overdue.html", {"invoices": invoices, "who": True})
