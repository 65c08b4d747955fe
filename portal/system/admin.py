"""The admin's system page: is every job running, and what needs a hand."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, make_response, redirect, url_for
from flask_login import current_user

from portal import emails
from portal.accounts.decorators import admin_required
from portal.audit.services import record
from portal.celery import BEAT_SCHEDULE
from portal.db import unit_of_work
from portal.rendering import render_page
from portal.system import status
from portal.system.email_previews import PREVIEWS
from portal.system.task_runs import describe_error

bp = Blueprint("system_admin", __name__, url_prefix="/admin/system")

# Where an admin acts on what each scheduled task looks after (endpoint, its arguments).
TASK_PAGES = {
    "complete_ended_lessons": ("admin.lessons", {"status": "scheduled"}),
    "expire_unpaid_bookings": ("admin.lessons", {"status": "pending_payment"}),
    "sync_payment_status": ("payments_admin.index", {}),
    "cleanup_expired_payment_intents": ("payments_admin.index", {}),
    "release_pending_earnings": ("ledger_admin.index", {}),
    "issue_tutor_statements": ("ledger_admin.index", {}),
    "process_auto_payouts": ("payouts_admin.index", {}),
    "process_pending_payouts": ("payouts_admin.index", {}),
    "send_missing_receipts": ("invoices_admin.index", {}),
    "verify_ledger": ("ledger_admin.index", {"check": "now"}),
    "prune_task_runs": ("system_admin.index", {}),
    "prune_idempotency_keys": ("system_admin.index", {}),
    "beat_heartbeat": ("system_admin.index", {}),
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
            "pulse": status.scheduler_pulse(),
            "drifts": status.drift_count(ledger_check),
        },
    )


@bp.post("/tasks/<name>/run")
@admin_required
def run_task(name: str):
    """Run a scheduled task now: queued to a worker, or run here when there is no broker.

    The tasks are safe to run at any time (each does only what is due), so this is the
    same as its schedule coming round early.
    """
    if name not in BEAT_SCHEDULE:
        abort(404)
    with unit_of_work():
        record("task.run", object_type="task", object_id=name, actor_id=current_user.id)
    task = current_app.extensions["celery"].tasks[name]
    if not task.app.conf.task_always_eager:
        task.delay()
        flash(f"{name} is queued for a worker.", "success")
    else:
        try:
            task.delay()
        except Exception as exc:  # recorded as a failed run; shown, never a 500
            flash(f"{name} failed: {describe_error(exc)}", "error")
        else:
            flash(f"{name} ran.", "success")
    return redirect(url_for("system_admin.index", _anchor=f"task-{name}"))


@bp.get("/emails/")
@admin_required
def email_previews():
    """Every message the portal sends, with made-up data: pick one to see both parts."""
    return render_page("system/emails.html", {"previews": PREVIEWS, "current": None})


@bp.get("/emails/<name>")
@admin_required
def email_preview(name: str):
    preview = PREVIEWS.get(name) or abort(404)
    message = _preview_message(preview)
    g.frames_own_pages = True
    return render_page(
        "system/emails.html",
        {"previews": PREVIEWS, "current": name, "preview": preview, "message": message},
    )


@bp.get("/emails/<name>/html")
@admin_required
def email_preview_html(name: str):
    """The HTML part alone, framed by the preview page: no scripts, inline styles only."""
    preview = PREVIEWS.get(name) or abort(404)
    response = make_response(_preview_message(preview).html)
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def _preview_message(preview):
    return emails.compose(
        preview.template, subject=preview.subject, to=["preview@example.com"], **preview.context()
    )
