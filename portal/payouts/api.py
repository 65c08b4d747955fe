"""Payouts over JSON: a tutor's requests, and the admin's approval queue.

Payouts are addressed by uuid. Every step locks the payout's row, so two admins acting at
once make one step; a step the state machine does not allow is 409 `invalid_transition`
and changes nothing.
"""

from __future__ import annotations

from flask_login import current_user

from portal.accounts.decorators import admin_required, login_required, tutor_required
from portal.api import api_blueprint, paginate
from portal.contract.schemas import EmptyBody, Page, PageQuery
from portal.contract.spec import operation
from portal.db import unit_of_work
from portal.payouts import admin_queue, processing, requesting, transitions
from portal.payouts.schemas import (
    AdminPayoutAnswer,
    NewPayoutRequest,
    PayoutAnswer,
    PayoutCompleteRequest,
    PayoutDetail,
    PayoutFailRequest,
    PayoutQueueQuery,
)

bp = api_blueprint("payouts_api", __name__, "")


# --- the tutor ------------------------------------------------------------------------


@bp.get("/payouts/")
@tutor_required
@operation({200: Page[PayoutAnswer]})
def index(query: PageQuery):
    """List the tutor's payouts (newest first)"""
    select = transitions.payouts_of(current_user.id)
    return paginate(select, PayoutAnswer.model_validate, page=query)


@bp.post("/payouts/")
@tutor_required
@operation(
    {201: PayoutAnswer},
    errors=(409,),
    idempotent=True,
    rules="the method's destination is set up (bank details, or a connected Stripe "
    "account: 400 `missing_details`); the amount is at least `MIN_PAYOUT_AMOUNT` (400 "
    "`below_minimum`) and at most `MAX_AMOUNT`, both settings.",
)
def create(json: NewPayoutRequest):
    """Ask for a payout

    Moves the amount from the available balance into "on its way"; the payout keeps the
    destination it was asked for. Refused while the balance is in debt.
    """
    with unit_of_work():
        payout = requesting.request_payout(
            current_user, amount=json.amount, payout_method=json.payout_method
        )
    return PayoutAnswer.model_validate(payout), 201


@bp.get("/payouts/<uuid:payout_id>/")
@login_required
@operation({200: PayoutDetail})
def detail(payout_id):
    """One payout

    Its tutor sees their own; an admin sees any, with the admin's fields.
    """
    payout = transitions.get_payout_for(current_user, payout_id)
    if current_user.is_admin:
        return PayoutDetail(AdminPayoutAnswer.of(payout))
    return PayoutDetail(PayoutAnswer.model_validate(payout))


@bp.delete("/payouts/<uuid:payout_id>/")
@tutor_required
@operation({200: PayoutAnswer}, errors=(409,))
def cancel(payout_id):
    """Cancel a pending payout

    The money goes back to the available balance.
    """
    with unit_of_work():
        payout = requesting.cancel_payout(current_user, payout_id)
    return PayoutAnswer.model_validate(payout)


# --- the admin ------------------------------------------------------------------------


@bp.get("/admin/payouts/")
@admin_required
@operation({200: Page[AdminPayoutAnswer]})
def admin_index(query: PayoutQueueQuery):
    """List payouts, by status"""
    filters = admin_queue.QueueFilters(
        status=query.status, tutor=query.tutor or "", method=query.payout_method or ""
    )
    return paginate(admin_queue.admin_list(filters), AdminPayoutAnswer.of, page=query)


@bp.post("/admin/payouts/<uuid:payout_id>/approve/")
@admin_required
@operation({200: AdminPayoutAnswer}, errors=(409,))
def approve(payout_id, json: EmptyBody):
    """Approve a pending payout

    Refused (409 `in_debt`) while the tutor's available balance is below zero.
    """
    with unit_of_work():
        payout = processing.approve_payout(current_user, payout_id)
    return AdminPayoutAnswer.of(payout)


@bp.post("/admin/payouts/<uuid:payout_id>/process/")
@admin_required
@operation({200: AdminPayoutAnswer}, errors=(409, 502))
def process(payout_id, json: EmptyBody):
    """Send an approved payout

    A `stripe` payout makes one Stripe transfer (keyed by the payout, never made twice) and
    ends `completed`, or `failed` with the money back if Stripe refuses it; when Stripe
    cannot be reached it stays approved (502). A `bank_transfer` becomes `processing` until
    it is completed with the bank's reference. Refused (409 `in_debt`) while the tutor's
    available balance is below zero.
    """
    with unit_of_work():
        payout = processing.process_payout(current_user, payout_id)
    return AdminPayoutAnswer.of(payout)


@bp.post("/admin/payouts/<uuid:payout_id>/complete/")
@admin_required
@operation({200: AdminPayoutAnswer}, errors=(409,))
def complete(payout_id, json: PayoutCompleteRequest):
    """Complete a bank transfer that is processing

    The money leaves the tutor's wallet; the tutor is e-mailed with the reference. Refused
    (409 `in_debt`) while the tutor's available balance is below zero.
    """
    with unit_of_work():
        payout = processing.complete_payout(current_user, payout_id, reference=json.reference)
    return AdminPayoutAnswer.of(payout)


@bp.post("/admin/payouts/<uuid:payout_id>/fail/")
@admin_required
@operation({200: AdminPayoutAnswer}, errors=(409, 502))
def fail(payout_id, json: PayoutFailRequest):
    """Fail a payout with a reason

    From pending, approved or processing; the money goes back to the tutor's available
    balance and the tutor is e-mailed the reason. A `stripe` payout is first looked up at
    Stripe (502 when it cannot be reached), so one that was sent is never failed.
    """
    with unit_of_work():
        payout = processing.fail_payout(current_user, payout_id, reason=json.reason)
    return AdminPayoutAnswer.of(payout)
