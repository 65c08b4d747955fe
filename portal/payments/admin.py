"""The admin's payments back office: the filtered list, platform totals and refunds."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user

from portal.accounts.decorators import admin_required
from portal.accounts.services import list_tutors
from portal.errors import PortalError
from portal.extensions import db
from portal.forms import apply_field_errors
from portal.money import format_money
from portal.pagination import Page
from portal.payments import lookups, refunds, reports
from portal.payments.forms import AdminRefundForm, PaymentFilterForm
from portal.payments.models import Payment
from portal.rendering import render_page

bp = Blueprint("payments_admin", __name__, url_prefix="/admin/payments")


@bp.get("")
@admin_required
def index():
    form = PaymentFilterForm(list_tutors(), formdata=request.args)
    valid = form.validate()
    low, high = reports.day_range(form.date_from.data, form.date_to.data) if valid else (None, None)
    query = reports.filtered_payments(
        status=form.status.data if valid else None,
        payment_type=form.payment_type.data if valid else None,
        low=low,
        high=high,
        tutor_id=int(form.tutor.data) if valid and form.tutor.data else None,
        student_email=form.student.data if valid else None,
    )
    page = Page.of(query, request.args.get("page"), per_page=50)
    return render_page(
        "payments/admin_list.html",
        {
            "form": form,
            "page": page,
            "totals": reports.platform_totals(low, high),
            "failed_refunds": reports.failed_refunds(),
        },
        fragments={"payments": "payments"},
        http_status=200 if valid else 422,
    )


@bp.get("/<uuid:payment_id>")
@admin_required
def detail(payment_id):
    payment = lookups.get_payment_for(current_user, payment_id)
    return _detail_page(payment, AdminRefundForm(formdata=None))


def _detail_page(payment: Payment, form: AdminRefundForm, status: int = 200, preview=None):
    return render_page(
        "payments/admin_detail.html",
        {"payment": payment, "form": form, "preview": preview},
        http_status=status,
    )


@bp.post("/<uuid:payment_id>/refund")
@admin_required
def refund(payment_id):
    """First the refund's figures to confirm (the amount, the fee part, the tutor's share),
    then, posted again with `confirm`, the refund itself."""
    payment = lookups.get_payment_for(current_user, payment_id)
    form = AdminRefundForm()
    if not form.validate():
        return _detail_page(payment, form, 422)
    if form.confirm.data != "1":
        try:
            preview = refunds.refund_preview(current_user, payment, form.refund_amount)
        except PortalError as exc:
            apply_field_errors(form, exc.fields, exc.message)
            return _detail_page(payment, form, 422)
        return _detail_page(payment, form, preview=preview)
    try:
        made = refunds.process_refund(
            current_user,
            payment.uuid,
            amount=form.refund_amount,
            reason=form.reason.data,
            request_key=form.request_key.data or None,
        )
    except PortalError as exc:
        db.session.rollback()
        apply_field_errors(form, exc.fields, exc.message)
        return _detail_page(db.session.get(Payment, payment.id), form, 422)
    db.session.commit()
    flash(f"Refunded {format_money(made.amount, made.currency)}.", "success")
    return redirect(url_for(".detail", payment_id=payment.uuid))
