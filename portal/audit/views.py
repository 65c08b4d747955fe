"""The admin's audit log search page."""

from __future__ import annotations

from flask import Blueprint, request

import portal.audit.receivers  # noqa: F401 - logs payment events
from portal.accounts.decorators import admin_required
from portal.audit import services
from portal.audit.hooks import record_admin_request
from portal.errors import ValidationError
from portal.pagination import Page
from portal.rendering import render_page

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")
# Registered with the audit pages, so the log and its safety net come together.
bp.after_app_request(record_admin_request)

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
