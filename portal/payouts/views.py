"""The tutor's payout pages: request and follow payouts, and where the money goes."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block

from portal.accounts.decorators import tutor_required
from portal.db import unit_of_work
from portal.errors import PortalError
from portal.forms import apply_field_errors
from portal.money import format_major_plain, format_money
from portal.pagination import Page
from portal.payouts import destinations, requesting, transitions
from portal.payouts.arrival import expected_arrival
from portal.payouts.forms import BankDetailsForm, PayoutRequestForm, StripeAccountForm
from portal.payouts.models import PayoutMethod
from portal.rendering import htmx_target, render_page
from portal.wallets.breakdown import payout_sources
from portal.wallets.forms import PayoutSettingsForm
from portal.wallets.summary import get_wallet_summary

bp = Blueprint("payouts", __name__)

INDEX = "payouts/index.html"
SETTINGS = "payouts/settings.html"


def _index_context(form: PayoutRequestForm | None = None) -> dict:
    destination = destinations.get_destination(current_user.id)
    ready = destinations.ready_methods(destination)
    if form is None:
        default = next((m for m in PayoutMethod if m in ready), PayoutMethod.BANK_TRANSFER)
        form = PayoutRequestForm(formdata=None, payout_method=default)
    summary = get_wallet_summary(current_user.id)
    page = Page.of(transitions.payouts_of(current_user.id), request.args.get("page"))
    return {
        "summary": summary,
        "sources": _sources(summary.wallet_id, page.items),
        "form": form,
        "ready": ready,
        "destinations": {
            PayoutMethod.BANK_TRANSFER: destinations.mask_bank(
                destination and destination.bank_kind, destination and destination.bank_last4
            ),
            PayoutMethod.STRIPE: destinations.mask_stripe(
                destination and destination.stripe_account_id
            ),
        },
        "min_payout": current_app.config["MIN_PAYOUT_AMOUNT"],
        "page": page,
    }


def _sources(wallet_id: int | None, payouts) -> dict:
    """Each listed payout's sources, and the lessons they name (for the breakdown)."""
    if wallet_id is None:
        return {}
    return payout_sources(wallet_id, {p.id for p in payouts})


@bp.get("/payouts")
@tutor_required
def index():
    return render_page(INDEX, _index_context(), fragments={"payouts": "payouts"})


@bp.app_template_global("expected_arrival")
def _expected_arrival(payout):
    return expected_arrival(payout)


@bp.post("/payouts")
@tutor_required
def create():
    """Request a payout of the amount typed, or, with `withdraw_all`, of all available."""
    if request.form.get("withdraw_all"):
        formdata = request.form.copy()
        available = get_wallet_summary(current_user.id).available
        formdata["amount"] = format_major_plain(
            max(available, 0), current_app.config["PLATFORM_CURRENCY"]
        )
        form = PayoutRequestForm(formdata=formdata)
    else:
        form = PayoutRequestForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                payout = requesting.request_payout(
                    current_user,
                    amount=form.amount.data,
                    payout_method=form.payout_method.data,
                    request_key=form.request_key.data or None,
                )
        except PortalError as exc:
            apply_field_errors(form, exc.fields, exc.message)
        else:
            flash(
                f"Payout of {format_money(payout.amount)} requested. An admin reviews it soon.",
                "success",
            )
            return redirect(url_for("payouts.index"))
    return render_page(INDEX, _index_context(form), http_status=422)


@bp.post("/payouts/check")
@tutor_required
def check():
    """Validate the request form as the tutor types: the feedback line only."""
    form = PayoutRequestForm()
    message, ok = None, False
    if form.amount.raw or form.amount.errors:
        if not form.validate():
            message = next(iter(form.errors.values()))[0]
        else:
            try:
                requesting.check_request(current_user.id, form.amount.data, form.payout_method.data)
            except PortalError as exc:
                message = exc.message
            else:
                left = get_wallet_summary(current_user.id).available - form.amount.data
                message, ok = f"Fine: {format_money(left)} stays available.", True
    return render_block(INDEX, "feedback", message=message, ok=ok)


@bp.get("/payouts/<uuid:payout_id>/row")
@tutor_required
def row(payout_id):
    """One payout's row: polled while the payout is on its way."""
    payout = transitions.get_payout_for(current_user, payout_id)
    return render_block(INDEX, "row", payout=payout)


@bp.post("/payouts/<uuid:payout_id>/cancel")
@tutor_required
def cancel(payout_id):
    in_place = htmx_target() == f"payout-{payout_id}"
    try:
        with unit_of_work():
            payout = requesting.cancel_payout(current_user, payout_id)
    except PortalError as exc:
        if not in_place:
            raise
        # E.g. an admin approved it meanwhile: show the row as it is now, and why.
        payout = transitions.get_payout_for(current_user, payout_id)
        return render_block(INDEX, "row", payout=payout, error=exc.message), 422
    if in_place:
        return render_block(INDEX, "row", payout=payout) + _fresh_balances()
    flash("Payout cancelled; the money is back in your available balance.", "info")
    return redirect(url_for("payouts.index"))


def _fresh_balances() -> str:
    """Out-of-band swaps of the balance cards and the "available now" line, which the
    cancelled payout's money has just changed."""
    context = {
        "summary": get_wallet_summary(current_user.id),
        "min_payout": current_app.config["MIN_PAYOUT_AMOUNT"],
        "oob": True,
    }
    return render_block(INDEX, "balances", **context) + render_block(
        INDEX, "amount_help", **context
    )


# --- settings -------------------------------------------------------------------------


def _settings_page(bank_form=None, stripe_form=None, status: int = 200):
    destination = destinations.get_destination(current_user.id)
    summary = get_wallet_summary(current_user.id)
    return render_page(
        SETTINGS,
        {
            "destination": destination,
            "masked_bank": destinations.mask_bank(
                destination and destination.bank_kind, destination and destination.bank_last4
            ),
            "masked_stripe": destinations.mask_stripe(
                destination and destination.stripe_account_id
            ),
            "bank_form": bank_form or BankDetailsForm(formdata=None),
            "stripe_form": stripe_form or StripeAccountForm(formdata=None),
            "form": PayoutSettingsForm(
                formdata=None,
                payout_threshold=summary.payout_threshold,
                auto_payout_enabled=summary.auto_payout_enabled,
            ),
            "min_payout": current_app.config["MIN_PAYOUT_AMOUNT"],
        },
        http_status=status,
    )


@bp.get("/payouts/settings")
@tutor_required
def settings():
    return _settings_page()


@bp.post("/payouts/settings/bank")
@tutor_required
def save_bank():
    form = BankDetailsForm()
    if form.validate_on_submit():
        fields = form.service_fields()
        try:
            with unit_of_work():
                destinations.update_bank_details(current_user.id, **fields)
        except PortalError as exc:
            apply_field_errors(form, exc.fields, exc.message)
        else:
            flash("Bank details saved." if fields else "Nothing to change.", "success")
            return redirect(url_for("payouts.settings"))
    return _settings_page(bank_form=form, status=422)


@bp.post("/payouts/settings/stripe")
@tutor_required
def save_stripe():
    form = StripeAccountForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                destinations.update_bank_details(
                    current_user.id, stripe_account_id=(form.stripe_account_id.data or "").strip()
                )
        except PortalError as exc:
            apply_field_errors(form, exc.fields, exc.message)
        else:
            flash("Stripe account saved.", "success")
            return redirect(url_for("payouts.settings"))
    return _settings_page(stripe_form=form, status=422)
