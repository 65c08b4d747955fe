"""The tutor's wallet over JSON: figures, statement, analytics, settings. Students and
admins get 403."""

from __future__ import annotations

from datetime import date, timedelta

from flask import current_app
from flask_login import current_user

from portal.accounts.decorators import tutor_required
from portal.api import api_blueprint, paginate
from portal.contract.schemas import Page
from portal.contract.spec import operation
from portal.db import unit_of_work, utcnow
from portal.payouts import destinations as payout_bank
from portal.payouts.schemas import SettingsRequest
from portal.payouts.settings import update_payout_settings
from portal.wallets.analytics import MAX_BUCKETS, get_earnings_analytics, last_months
from portal.wallets.movement import get_wallet
from portal.wallets.schemas import (
    AnalyticsAnswer,
    AnalyticsQuery,
    TransactionAnswer,
    TransactionQuery,
    WalletAnswer,
)
from portal.wallets.statement import statement_filters, statement_query
from portal.wallets.summary import get_wallet_summary

bp = api_blueprint("wallets_api", __name__, "/wallet")

# The range `analytics/` covers when `from` is not given, per period.
DEFAULT_SPAN = {"day": timedelta(days=29), "week": timedelta(weeks=11), "month": None}


def platform_currency() -> str:
    return current_app.config["PLATFORM_CURRENCY"]


def wallet_answer(tutor_id: int) -> WalletAnswer:
    # Only ever the last four characters of the account.
    return WalletAnswer.of(get_wallet_summary(tutor_id), payout_bank.bank_last4_for(tutor_id))


@bp.get("/")
@tutor_required
@operation({200: WalletAnswer})
def wallet():
    """The wallet's balances and payout settings

    All zeros for a tutor who has earned nothing yet.
    """
    return wallet_answer(current_user.id)


@bp.get("/transactions/")
@tutor_required
@operation(
    {200: Page[TransactionAnswer]},
    rules="`from` is not after `to` (400 naming `from`).",
)
def transactions(query: TransactionQuery):
    """List the statement's lines (newest first)"""
    filters = statement_filters(query.type, query.date_from, query.date_to)
    wallet = get_wallet(current_user.id)
    # A tutor without a wallet has an empty statement: wallet id 0 matches nothing.
    select = statement_query(wallet.id if wallet else 0, filters)
    currency = platform_currency()
    return paginate(select, lambda line: TransactionAnswer.of(line, currency), page=query)


@bp.get("/analytics/")
@tutor_required
@operation(
    {200: AnalyticsAnswer},
    rules=f"`from` is not after `to`, and the range holds at most {MAX_BUCKETS} buckets "
    "of the period (400 naming the field).",
)
def analytics(query: AnalyticsQuery):
    """Earnings per day, week or month over a range of days"""
    span = _span(query.period, query.date_from, query.date_to)
    buckets = get_earnings_analytics(current_user.id, query.period, *span)
    return AnalyticsAnswer.of(query.period, span, platform_currency(), buckets)


def _span(period: str, date_from: date | None, date_to: date | None) -> tuple[date, date]:
    date_to = date_to or utcnow().date()
    if date_from is None:
        span = DEFAULT_SPAN[period]
        date_from = last_months(12, date_to)[0] if span is None else date_to - span
    return date_from, date_to


@bp.patch("/settings/")
@tutor_required
@operation(
    {200: WalletAnswer},
    rules="a country is one ISO 3166 knows; an IBAN's and a routing number's check "
    "digits match; bank details given in part make whole ones with those stored; the payout "
    "threshold is from `MIN_PAYOUT_AMOUNT` to `MAX_AMOUNT`, both settings.",
)
def settings(json: SettingsRequest):
    """Change the payout settings and payout destinations

    Answers the wallet. A change of any bank or Stripe field is audited (never its value)
    and e-mailed to the tutor with the masked destination.
    """
    bank_fields = json.model_dump(include=set(payout_bank.SETTINGS_FIELDS), exclude_unset=True)
    with unit_of_work():
        if bank_fields:
            payout_bank.update_bank_details(current_user.id, **bank_fields)
        update_payout_settings(
            current_user.id,
            payout_threshold=json.payout_threshold,
            auto_payout_enabled=json.auto_payout_enabled,
        )
    return wallet_answer(current_user.id)
