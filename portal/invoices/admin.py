"""The admins' list of every invoice; each opens on the same page the student sees."""

from __future__ import annotations

from flask import Blueprint, request
from flask_login import current_user

from portal.accounts.decorators import admin_required
from portal.invoices import services
from portal.pagination import Page
from portal.rendering import render_page

bp = Blueprint("invoices_admin", __name__, url_prefix="/admin/invoices")


@bp.get("")
@admin_required
def index():
    page = Page.of(services.invoices_for(current_user), request.args.get("page"), per_page=50)
    return render_page(
        "invoices/admin_index.html", {"page": page}, fragments={"invoices": "invoices"}
    )
