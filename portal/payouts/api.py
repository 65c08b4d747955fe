"""Payouts over JSON: a tutor's requests, and the admin's approval queue."""

from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user

from portal.accounts.decorators import admin_required, login_required, tutor_required
from portal.api import api_blueprint, int_field, iso, json_body, paginate, str_field
from portal.db import unit_of_work
from portal.payouts import admin_queue, processing, requesting, transitions
from portal.payouts.models import PayoutRequest

bp = api_blueprint("payouts_api", __name__, "")


def payout_json(payout: PayoutRequest) -> dict:
    return {
        "id": str(payout.uuid),
        "amount": payout.amount,
        "currency": payout.currency,
        "status": payout.status,
        "payout_method": payout.payout_method,
        "destination": payout.destination,
        "failure_reason": payout.failure_reason,
        "bank_reference": payout.bank_reference,
        "auto": payout.auto,
        "created_at": iso(payout.created_at),
        "approved_at": iso(payout.approved_at),
        "processed_at": iso(payout.processed_at),
        "completed_at": iso(payout.completed_at),
        "failed_at": iso(payout.failed_at),
        "cancelled_at": iso(payout.cancelled_at),
    }


def admin_payout_json(payout: PayoutRequest) -> dict:
    return {
        **payout_json(payout),
        "tutor_id": payout.tutor_id,
        "provider_transfer_id": payout.provider_transfer_id,
        "allowed_actions": [a for a in transitions.allowed_actions(payout.status) if a != "cancel"],
    }


# --- the tutor ------------------------------------------------------------------------


@bp.get("/payouts/")
@tutor_required
def index():
    return jsonify(paginate(transitions.payouts_of(current_user.id), payout_json))


@bp.post("/payouts/")
@tutor_required
def create():
    data = json_body({"amount", "payout_method"})
    amount = int_field(data, "amount")
    method = str_field(data, "payout_method", max_length=32)
    with unit_of_work():
        payout = requesting.request_payout(
            current_user,
            amount=amount,
            payout_method=method,
            request_key=request.headers.get("Idempotency-Key"),
        )
    return jsonify(payout_json(payout)), 201


@bp.get("/payouts/<uuid:payout_id>/")
@login_required
def detail(payout_id):
    payout = transitions.get_payout_for(current_user, payout_id)
    return jsonify(admin_payout_json(payout) if current_user.is_admin else payout_json(payout))


@bp.delete("/payouts/<uuid:payout_id>/")
@tutor_required
def cancel(payout_id):
    with unit_of_work():
        payout = requesting.cancel_payout(current_user, payout_id)
    return jsonify(payout_json(payout))


# --- the admin ------------------------------------------------------------------------


@bp.get("/admin/payouts/")
@admin_required
def admin_index():
    filters = admin_queue.parse_filters(request.args)
    return jsonify(paginate(admin_queue.admin_list(filters), admin_payout_json))


@bp.post("/admin/payouts/<uuid:payout_id>/approve/")
@admin_required
def approve(payout_id):
    json_body(set(), required=False)
    with unit_of_work():
        payout = processing.approve_payout(current_user, payout_id)
    return jsonify(admin_payout_json(payout))


@bp.post("/admin/payouts/<uuid:payout_id>/process/")
@admin_required
def process(payout_id):
    json_body(set(), required=False)
    with unit_of_work():
        payout = processing.process_payout(current_user, payout_id)
    return jsonify(admin_payout_json(payout))


@bp.post("/admin/payouts/<uuid:payout_id>/complete/")
@admin_required
def complete(payout_id):
    data = json_body({"reference"}, required=False)
    with unit_of_work():
        payout = processing.complete_payout(
            current_user, payout_id, reference=data.get("reference")
        )
    return jsonify(admin_payout_json(payout))


@bp.post("/admin/payouts/<uuid:payout_id>/fail/")
@admin_required
def fail(payout_id):
    data = json_body({"reason"})
    with unit_of_work():
        payout = processing.fail_payout(current_user, payout_id, reason=data.get("reason"))
    return jsonify(admin_payout_json(payout))
