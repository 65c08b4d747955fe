"""Invoice pages: a student's list, one invoice (also for admins) and its PDF."""

from __future__ import annotations

import io

from flask import Blueprint, request, send_file
from flask_login import current_user

from portal.accounts.decorators import roles_required, student_required
from portal.db import unit_of_work
from portal.invoices import services
from portal.invoices.documents import invoice_pdf
from portal.pagination import Page
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


@bp.get("/<uuid:invoice_id>/pdf")
@roles_required("student", "admin")
def pdf(invoice_id):
    return send_pdf(services.get_invoice_for(current_user, invoice_id))


def send_pdf(invoice):
    with unit_of_work():  # a PDF rendered now is stored for every later download
        pdf = invoice_pdf(invoice)
    return send_file(
        io.BytesIO(pdf),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"{invoice.number}.pdf",
    )
