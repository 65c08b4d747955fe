"""The admin's system page: is every job running, and what needs a hand."""

from __future__ import annotations

from flask import Blueprint, current_app

from portal.accounts.decorators import admin_required
from portal.rendering import render_page
from portal.system import status

bp = Blueprint("system_admin", __name__, url_prefix="/admin/system")

# Where an admin acts on what each scheduled task looks after (endpoint, its arguments).
TASK_PAGES = {
    "complete_ended_lessons": ("admin.lessons", {"status": "scheduled"}),
    "expire_unpaid_bookings": ("admin.lessons", {"status": "pending_payment"}),
    "sync_payment_status": ("payments_admin.index", {}),
    "release_pending_earnings": ("ledger_admin.index", {}),
    "process_auto_payouts": ("payouts_admin.index", {}),
    "process_pending_payouts": ("payouts_admin.index", {}),
    "send_missing_receipts": ("invoices_admin.index", {}),
    "verify_ledger": ("ledger_admin.index", {"check": "now"}),
    "prune_task_runs": ("system_admin.index", {}),
}


@bp.get("/")
@admin_required
def index():
    ledger_check = status.last_ledger_check()
    return render_page(
        "system/index.html",
        {
            "tasks": status.scheduled_tasks(),
            "task_pages": TASK_PAGES,
            "failures": status.recent_failures(),
            "queue_depth": status.queue_depth(),
            "has_broker": bool(current_app.config.get("CELERY_BROKER_URL")),
            "webhooks": status.webhook_backlog(),
            "ledger_check": ledger_check,
            "drifts": status.drift_count(ledger_check),
        },
    )
