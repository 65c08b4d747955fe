"""Admins' wallet adjustments over JSON: a signed amount and a reason, answered with the
statement line."""

from __future__ import annotations

from flask import jsonify
from flask_login import current_user

from portal.accounts.decorators import admin_required
from portal.api import api_blueprint, int_field, json_body, str_field
from portal.db import unit_of_work
from portal.wallets.admin import make_adjustment
from portal.wallets.api import transaction_json

bp = api_blueprint("wallets_admin_api", __name__, "/admin/wallets")


@bp.post("/<int:tutor_id>/adjustments/")
@admin_required
def adjustments(tutor_id):
    """`{"amount", "reason"}`: a positive amount credits, a negative one debits (409 when
    it would overdraw); `Idempotency-Key` makes a resend one adjustment."""
    data = json_body({"amount", "reason"})
    amount = int_field(data, "amount")
    reason = str_field(data, "reason")
    with unit_of_work():
        line = make_adjustment(current_user, tutor_id, amount, reason, None)
    return jsonify(transaction_json(line)), 201
