"""The tutor's wallet over JSON: figures, statement, analytics, settings. Students and
admins get 403."""

from __future__ import annotations

from datetime import timedelta

from flask import jsonify, request
from flask_login import current_user

from portal.accounts.decorators import tutor_required
from portal.api import api_blueprint, iso, json_body, paginate
from portal.db import utcnow
from portal.errors import ValidationError
from portal.extensions import db
from portal.payouts import destinations as payout_bank
from portal.payouts.settings import update_payout_settings
from portal.wallets.analytics import PERIODS, get_earnings_analytics, last_months
from portal.wallets.models import WalletTransaction
from portal.wallets.movement import get_wallet
from portal.wallets.statement import parse_statement_filters, statement_query
from portal.wallets.summary import WalletSummary, get_wallet_summary

bp = api_blueprint("wallets_api", __name__, "/wallet")

# The settings also take the bank and Stripe account fields, which belong to payouts.
SETTINGS_FIELDS = {"payout_threshold", "auto_payout_enabled", *payout_bank.SETTINGS_FIELDS}

# The range `analytics/` covers when `from` is not given, per period.
DEFAULT_SPAN = {"day": timedelta(days=29), "week": timedelta(weeks=11), "month": None}


def wallet_json(summary: WalletSummary) -> dict:
    return {
        "balance": summary.available,
        "pending": summary.pending,
        "in_flight": summary.in_flight,
        "debt": summary.debt,
        "total_earned": summary.total_earned,
        "total_withdrawn": summary.total_withdrawn,
        "currency": summary.currency,
        "payout_threshold": summary.payout_threshold,
        "auto_payout_enabled": summary.auto_payout_enabled,
        # Only ever the last four characters of the account.
        "bank_last4": payout_bank.bank_last4_for(current_user.id),
    }


def transaction_json(line: WalletTransaction) -> dict:
    return {
        "id": line.id,
        "type": line.type,
        "description": line.description,
        "amount": line.amount,
        "available_change": line.available_change,
        "pending_change": line.pending_change,
        "in_flight_change": line.in_flight_change,
        "balance_after": line.available_after,
        "pending_after": line.pending_after,
        "in_flight_after": line.in_flight_after,
        "currency": _currency(),
        "booking_id": line.booking_id,
        "payment_id": line.payment_id,
        "payout_id": line.payout_id,
        "entry_id": line.entry_id,
        "created_at": iso(line.created_at),
    }


def _currency() -> str:
    from flask import current_app

    return current_app.config["PLATFORM_CURRENCY"]


@bp.get("/")
@tutor_required
def wallet():
    return jsonify(wallet_json(get_wallet_summary(current_user.id)))


@bp.get("/transactions/")
@tutor_required
def transactions():
    args = request.args
    filters = parse_statement_filters(args.get("type"), args.get("from"), args.get("to"))
    wallet = get_wallet(current_user.id)
    # A tutor without a wallet has an empty statement: wallet id 0 matches nothing.
    query = statement_query(wallet.id if wallet else 0, filters)
    return jsonify(paginate(query, transaction_json))


@bp.get("/analytics/")
@tutor_required
def analytics():
    args = request.args
    period = args.get("period", "month")
    if period not in PERIODS:
        raise ValidationError(
            "period must be day, week or month.", fields={"period": ["Choose day, week or month."]}
        )
    dates = parse_statement_filters(None, args.get("from"), args.get("to"))
    date_to = dates.date_to or utcnow().date()
    date_from = dates.date_from
    if date_from is None:
        span = DEFAULT_SPAN[period]
        date_from = last_months(12, date_to)[0] if span is None else date_to - span
    if date_from > date_to:
        raise ValidationError(
            "The start date is after the end date.",
            fields={"from": ["Must not be after the end date."]},
        )
    buckets = get_earnings_analytics(current_user.id, period, date_from, date_to)
    return jsonify(
        {
            "period": period,
            "from": date_from.isoformat(),
            "to": date_to.isoformat(),
            "currency": _currency(),
            "results": [
                {
                    "period_start": b.start.isoformat(),
                    "earned": b.earned,
                    "fees": b.fees,
                    "lessons": b.lessons,
                    "refunds": b.refunds,
                    "net": b.net,
                }
                for b in buckets
            ],
        }
    )


@bp.patch("/settings/")
@tutor_required
def settings():
    data = json_body(SETTINGS_FIELDS)
    threshold = data.get("payout_threshold")
    if threshold is not None and (not isinstance(threshold, int) or isinstance(threshold, bool)):
        raise ValidationError(
            "payout_threshold must be a whole number of minor units (cents).",
            fields={"payout_threshold": ["Must be an integer of minor units."]},
        )
    auto = data.get("auto_payout_enabled")
    if auto is not None and not isinstance(auto, bool):
        raise ValidationError(
            "auto_payout_enabled must be true or false.",
            fields={"auto_payout_enabled": ["Must be true or false."]},
        )
    bank_fields = {k: data[k] for k in payout_bank.SETTINGS_FIELDS if k in data}
    if bank_fields:
        payout_bank.update_bank_details(current_user.id, **bank_fields)
    update_payout_settings(current_user.id, payout_threshold=threshold, auto_payout_enabled=auto)
    db.session.commit()
    return jsonify(wallet_json(get_wallet_summary(current_user.id)))
