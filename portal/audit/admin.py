"""The admin's audit log search page."""

from __future__ import annotations

from flask import Blueprint, request

from portal.accounts.decorators import admin_required
from portal.audit import services
from portal.errors import ValidationError
from portal.pagination import Page
from portal.rendering import render_page

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")

PER_PAGE = 50


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
        },
        fragments={"entries": "entries"},
        http_status=422 if errors else 200,
    )
