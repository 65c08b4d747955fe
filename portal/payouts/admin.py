"""The admin payout queue: tabs, filters, row actions swapped in place, bulk approve.

Every action works without JavaScript (a form POST, then a redirect with a flash); with
htmx the row (or the whole queue, for bulk approve) comes back in place, with the tab
counts updated out of band.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block

from portal.accounts.decorators import admin_required
from portal.bookings.forms import EmptyForm
from portal.db import unit_of_work
from portal.errors import PortalError, ValidationError
from portal.forms import apply_field_errors
from portal.payouts import admin_queue, processing, transitions
from portal.payouts.forms import CompleteForm, FailForm
from portal.payouts.models import PayoutMethod, PayoutStatus
from portal.payouts.nav import badge, counted
from portal.providers import uses_localstripe
from portal.providers.base import ProviderUnavailable
from portal.rendering import htmx_target, render_page

bp = Blueprint("payouts_admin", __name__, url_prefix="/admin/payouts")

QUEUE = "payouts/queue.html"
FAIL = "payouts/fail.html"
DONE = {
    "approve": "Payout approved.",
    "process": "Payout processing: complete it with the bank's reference once it arrives.",
    "complete": "Payout completed.",
    "fail": "Payout marked failed; the money is back in the tutor's balance.",
}


def _filters() -> admin_queue.QueueFilters:
    """The queue's filters; an unknown one is a 400 (the API's "all" shows pending here)."""
    filters = admin_queue.parse_filters(request.args)
    return filters if filters.status in admin_queue.TABS else admin_queue.QueueFilters(**{
        **filters.as_args(), "status": PayoutStatus.PENDING})  # fmt: skip


class RowLinks:
    """The addresses of a row's actions for one page: `url_for` once per action with a
    stand-in id, which each row's uuid then replaces (building every row's links one by
    one was a good part of the page's time). Called as ``row_links(action, payout_id)``."""

    STAND_IN = uuid.UUID(int=0)
    ACTIONS = ("approve", "process", "complete", "fail_dialog")

    def __init__(self, filters: admin_queue.QueueFilters):
        args = filters.as_args()
        self._urls = {
            action: url_for(f"payouts_admin.{action}", payout_id=self.STAND_IN, **args)
            for action in self.ACTIONS
        }

    def __call__(self, action: str, payout_id: uuid.UUID) -> str:
        # The path comes first: its stand-in is the first one.
        return self._urls[action].replace(str(self.STAND_IN), str(payout_id), 1)


def _queue_context(filters: admin_queue.QueueFilters, notice: str | None = None) -> dict:
    counts = admin_queue.status_counts(filters)
    if not (filters.tutor or filters.method):
        counted(counts[PayoutStatus.PENDING])  # the navigation's badge: no second count
    return {
        "filters": filters,
        "counts": counts,
        "page": admin_queue.queue_page(filters, request.args.get("page"), counts),
        "form": EmptyForm(),
        "complete_form": CompleteForm(formdata=None),
        "notice": notice,
        "methods": list(PayoutMethod),
        "allowed_actions": transitions.allowed_actions,
        "row_links": RowLinks(filters),
    }


@bp.get("")
@admin_required
def index():
    return render_page(QUEUE, _queue_context(_filters()), fragments={"queue": "queue"})


@bp.get("/tabs")
@admin_required
def tabs():
    """The status tabs alone: they reload themselves after an action changed a count."""
    filters = _filters()
    return render_block(QUEUE, "tabs", filters=filters, counts=admin_queue.status_counts(filters))


def _row_response(payout, *, error: str | None = None, complete_form=None, status: int = 200):
    """The payout's row; `payouts-changed` tells the tabs to recount and the dialog to close."""
    filters = _filters()
    html = render_block(
        QUEUE,
        "row",
        row=admin_queue.queue_row(payout),
        filters=filters,
        row_links=RowLinks(filters),
        complete_form=complete_form or CompleteForm(formdata=None),
        row_error=error,
        allowed_actions=transitions.allowed_actions,
    )
    return html + _fresh_figures(payout), status, {"HX-Trigger": "payouts-changed"}


def _fresh_figures(payout) -> str:
    """Out-of-band swaps of what the action changed around the row: the nav badge, the
    number waiting, and what the tutor is owed on their other open rows."""
    filters = _filters()
    parts = [badge(admin_queue.pending_count(), oob=True)]
    parts.append(render_block(QUEUE, "waiting", counts=admin_queue.status_counts(filters),
                              oob=True))  # fmt: skip
    for row in admin_queue.open_rows_of_tutor(payout.tutor_id):
        if row.payout.id != payout.id:
            parts.append(render_block(QUEUE, "owed", row=row, payout=row.payout, oob=True))
    return "".join(str(part) for part in parts)


def _act(payout_id, action: str, call, *, form=None):
    """Run one admin action; htmx gets the row back, a plain form a redirect and a flash."""
    in_place = htmx_target() == f"payout-{payout_id}"
    try:
        with unit_of_work():
            payout = call()
    except PortalError as exc:
        if not in_place:
            raise
        if form is not None:
            apply_field_errors(form, exc.fields, exc.message)
        payout = transitions.get_payout_for(current_user, payout_id)
        return _row_response(payout, error=exc.message, complete_form=form, status=422)
    if in_place:
        return _row_response(payout)
    if payout.status == PayoutStatus.FAILED and action == "process":
        flash(f"Stripe refused the transfer; the money is back. {payout.failure_reason}", "error")
    elif payout.status == PayoutStatus.COMPLETED and action == "process":
        flash("Payout sent via Stripe.", "success")
    else:
        flash(DONE[action], "success")
    return redirect(url_for("payouts_admin.index", **_filters().as_args()))


@bp.post("/<uuid:payout_id>/approve")
@admin_required
def approve(payout_id):
    return _act(payout_id, "approve", lambda: processing.approve_payout(current_user, payout_id))


# localstripe (the demo's Stripe) has no Connect transfers, as it has no Checkout.
LOCAL_NO_TRANSFERS = (
    "Stripe payouts need a Stripe test account: the local payment server has no transfers, "
    "so nothing was sent. The payout is still approved and its money still reserved."
)


@bp.post("/<uuid:payout_id>/process")
@admin_required
def process(payout_id):
    def call():
        try:
            return processing.process_payout(current_user, payout_id)
        except ProviderUnavailable as exc:
            if uses_localstripe(current_app.config):
                raise ProviderUnavailable(LOCAL_NO_TRANSFERS) from exc
            raise

    return _act(payout_id, "process", call)


@bp.post("/<uuid:payout_id>/complete")
@admin_required
def complete(payout_id):
    form = CompleteForm()
    payout = transitions.get_payout_for(current_user, payout_id)
    reference = (form.reference.data or "").strip()

    def call():
        if payout.payout_method == PayoutMethod.BANK_TRANSFER and not reference:
            raise _missing_reference()
        return processing.complete_payout(current_user, payout_id, reference=reference or None)

    return _act(payout_id, "complete", call, form=form)


def _missing_reference() -> ValidationError:
    message = "Enter the bank's reference for this transfer."
    return ValidationError(message, fields={"reference": [message]})


# --- failing, in a dialog -------------------------------------------------------------


@bp.get("/<uuid:payout_id>/fail")
@admin_required
def fail_dialog(payout_id):
    payout = transitions.get_payout_for(current_user, payout_id)
    return _fail_page(payout, FailForm(formdata=None))


def _fail_page(payout, form, status: int = 200):
    context = {"payout": payout, "fail_form": form, "filters": _filters()}
    if htmx_target() in ("dialog-slot", f"payout-{payout.uuid}"):
        response = render_block(FAIL, "dialog", **context)
        headers = {"HX-Retarget": "#dialog-slot", "HX-Reswap": "innerHTML"}
        return response, status, headers
    return render_page(FAIL, context, http_status=status)


@bp.post("/<uuid:payout_id>/fail")
@admin_required
def fail(payout_id):
    form = FailForm()
    payout = transitions.get_payout_for(current_user, payout_id)
    if not form.validate():
        return _fail_page(payout, form, status=422)
    return _act(
        payout_id,
        "fail",
        lambda: processing.fail_payout(current_user, payout_id, reason=form.reason.data),
    )


# --- bulk approve ---------------------------------------------------------------------


@bp.post("/approve")
@admin_required
def bulk_approve():
    filters = _filters()
    ids = request.form.getlist("ids")
    try:
        with unit_of_work():
            result = processing.approve_payouts(current_user, ids)
    except PortalError as exc:
        notice = exc.message
    else:
        notice = _bulk_notice(result)
    if htmx_target() == "queue":
        return render_page(QUEUE, _queue_context(filters, notice), fragments={"queue": "queue"})
    flash(notice, "success")
    return redirect(url_for("payouts_admin.index", **filters.as_args()))


def _bulk_notice(result: processing.BulkResult) -> str:
    text = f"Approved {len(result.approved)} payout{'s' if len(result.approved) != 1 else ''}."
    if result.skipped:
        text += f" Skipped {len(result.skipped)} no longer pending."
    return text
