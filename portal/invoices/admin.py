"""The admins' list of every invoice, filtered, and the accountant's exports.

Each invoice opens on the same page the student sees. The filters (status, kind,
student, issue dates) come from the query string; the CSV takes the same filters, the
zip one month.
"""

from __future__ import annotations

from flask import Blueprint, Response, request, stream_with_context

from portal.accounts.decorators import admin_required
from portal.db import utcnow
from portal.errors import ValidationError
from portal.invoices import exports
from portal.invoices.filters import (
    FILTER_NAMES,
    KIND_CHOICES,
    STATUS_CHOICES,
    InvoiceFilters,
    filtered_invoices,
    parse_invoice_filters,
)
from portal.pagination import Page
from portal.rendering import render_page

bp = Blueprint("invoices_admin", __name__, url_prefix="/admin/invoices")


def _filters() -> tuple[InvoiceFilters, dict | None]:
    """The filters from the query string, or no filters and the errors."""
    try:
        return parse_invoice_filters(request.args), None
    except ValidationError as exc:
        return InvoiceFilters(), exc.fields


@bp.get("")
@admin_required
def index():
    filters, errors = _filters()
    page = None if errors else Page.of(filtered_invoices(filters), request.args.get("page"), 50)
    context = {
        "page": page,
        "filters": filters,
        "raw_filters": {name: request.args.get(name, "") for name in FILTER_NAMES},
        "filter_errors": errors or {},
        "statuses": STATUS_CHOICES,
        "kinds": KIND_CHOICES,
        "last_month": _last_month(),
    }
    response, status = render_page(
        "invoices/admin_index.html", context, fragments={"invoices": "invoices"}
    )
    return response, 422 if errors else status


def _last_month() -> str:
    today = utcnow().date()
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


@bp.get("/export.csv")
@admin_required
def export_csv():
    filters = parse_invoice_filters(request.args)
    stamp = utcnow().strftime("%Y%m%d")
    return Response(
        stream_with_context(exports.accounting_csv(filters)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="m4sh-invoices-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )


@bp.get("/pdfs.zip")
@admin_required
def month_zip():
    month = exports.parse_month(request.args.get("month"))
    return Response(
        stream_with_context(exports.month_zip(month)),
        mimetype="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="m4sh-invoices-{month.label}.zip"',
            "Cache-Control": "no-store",
        },
    )
