"""The admin's audit log search page."""

from __future__ import annotations

from flask import Blueprint, current_app, request

from portal.accounts.decorators import admin_required
from portal.audit import services
from portal.errors import ValidationError
from portal.money import format_money
from portal.pagination import Page
from portal.rendering import render_page

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")

PER_PAGE = 50
# Fields recorded as minor units: shown as money, never as the raw integer.
MONEY_FIELDS = frozenset({
    "amount", "platform_fee", "amount_refunded", "refund", "refund_fee_part", "available",
    "pending", "in_flight", "balance", "payout_threshold", "fee", "net", "total",
})  # fmt: skip


def shown_value(name: str, value: object, values: dict) -> str:
    """One recorded field as an admin reads it: money formatted, nothing as a dash."""
    if value is None:
        return "—"
    if name in MONEY_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        return format_money(
            value, values.get("currency") or current_app.config["PLATFORM_CURRENCY"]
        )
    return str(value)


@bp.get("")
@admin_required
def index():
    errors = {}
    try:
        filters = services.parse_filters(request.args)
    except ValidationError as exc:
        filters, errors = services.AuditFilters(), exc.fields or {}
    page = Page.of(services.search(filters), request.args.get("page"), per_page=PER_PAGE)
    return render_page(
        "audit/index.html",
        {
            "filters": filters,
            "raw": {
                k: request.args.get(k, "")
                for k in ("action", "object_type", "object_id", "actor", "from", "to")
            },
            "errors": errors,
            "page": page,
            "actions": services.known_actions(),
            "shown_value": shown_value,
        },
        fragments={"entries": "entries"},
        http_status=422 if errors else 200,
    )
