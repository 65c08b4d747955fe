"""Admins' wallet adjustments over JSON: a signed amount and a reason, answered with the
statement line."""

from __future__ import annotations

from flask_login import current_user

from portal.accounts.decorators import admin_required
from portal.api import api_blueprint
from portal.contract.spec import operation
from portal.db import unit_of_work
from portal.wallets.admin import make_adjustment
from portal.wallets.api import platform_currency
from portal.wallets.schemas import AdjustmentRequest, TransactionAnswer

bp = api_blueprint("wallets_admin_api", __name__, "/admin/wallets")


@bp.post("/<int:tutor_id>/adjustments/")
@admin_required
@operation(
    {201: TransactionAnswer},
    errors=(409,),
    idempotent=True,
    rules="the amount, credit or debit, is at most `MAX_AMOUNT`, a setting.",
)
def adjustments(tutor_id: int, json: AdjustmentRequest):
    """Credit or debit a tutor's wallet

    A positive amount credits the available balance, a negative one debits it (409
    `insufficient_funds` when it would overdraw). Answers the statement line; the audit
    log records who made it and why.
    """
    with unit_of_work():
        line = make_adjustment(current_user, tutor_id, json.amount, json.reason, None)
    return TransactionAnswer.of(line, platform_currency()), 201
