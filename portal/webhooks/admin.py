"""The admin's webhook event log: filter, read an event's payload, replay it."""

from __future__ import annotations

import json

from flask import Blueprint, flash, redirect, request, url_for

from portal.accounts.decorators import admin_required
from portal.input import choice_filter
from portal.pagination import Page
from portal.rendering import render_page
from portal.webhooks import services
from portal.webhooks.models import EventStatus
from portal.webhooks.tasks import run_event

bp = Blueprint("webhooks_admin", __name__, url_prefix="/admin/webhooks")


@bp.get("")
@admin_required
def index():
    status = choice_filter(request.args, "status", EventStatus)
    filters = services.parse_filters(request.args.get("type"), status)
    page = Page.of(services.events_query(filters), request.args.get("page"), per_page=50)
    return render_page(
        "webhooks/index.html",
        {
            "page": page,
            "filters": filters,
            "types": services.event_types(),
            "statuses": list(EventStatus),
            "failed": services.failed_count(),
        },
        fragments={"events": "events"},
    )


@bp.get("/<int:event_id>")
@admin_required
def detail(event_id: int):
    event = services.get_event(event_id)
    return render_page(
        "webhooks/detail.html",
        {
            "event": event,
            "payload": json.dumps(redacted(event.payload), indent=2, sort_keys=True),
            "related": services.related_events(event),
        },
    )


# Stored as Stripe sent them, but not shown: a payment intent's client secret lets
# whoever holds it confirm the payment from a browser.
HIDDEN_KEYS = frozenset({"client_secret"})


def redacted(value):
    if isinstance(value, dict):
        return {k: "(hidden)" if k in HIDDEN_KEYS else redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value


@bp.post("/<int:event_id>/replay")
@admin_required
def replay(event_id: int):
    """Process the event again now; the handlers change nothing that is already done."""
    services.get_event(event_id)
    outcome = run_event(event_id, replay=True)
    if outcome.status == EventStatus.FAILED:
        flash(f"Replay failed: {outcome.error}", "error")
    else:
        flash(f"Replayed: the event is {outcome.status}.", "success")
    return redirect(url_for("webhooks_admin.detail", event_id=event_id))
