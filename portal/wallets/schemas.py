"""The wallet API's requests and answers (`/api/v1/wallet/`, and the admins' adjustments
under `/api/v1/admin/wallets/`)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AliasChoices, ConfigDict, Field

from portal.contract.schemas import (
    Answer,
    Currency,
    Day,
    Money,
    PageQuery,
    Query,
    RequestBody,
    Timestamp,
    examples,
    said,
)
from portal.wallets.analytics import PERIODS, Bucket
from portal.wallets.models import TransactionType, WalletTransaction
from portal.wallets.summary import WalletSummary

Period = Literal[PERIODS]

WALLET_EXAMPLE = {
    "balance": 11475,
    "pending": 850,
    "in_flight": 0,
    "debt": 0,
    "total_earned": 12325,
    "total_withdrawn": 0,
    "currency": "usd",
    "payout_threshold": 5000,
    "auto_payout_enabled": False,
    "bank_last4": "3000",
}
LINE_EXAMPLE = {
    "id": 981,
    "type": "earning",
    "description": "Lesson on 25 Oct",
    "amount": 3825,
    "available_change": 0,
    "pending_change": 3825,
    "in_flight_change": 0,
    "balance_after": 11475,
    "pending_after": 4675,
    "in_flight_after": 0,
    "currency": "usd",
    "booking_id": 42,
    "payment_id": 77,
    "payout_id": None,
    "entry_id": 3310,
    "created_at": "2026-10-25T00:30:12Z",
}


# --- requests -------------------------------------------------------------------------


class DayRangeQuery(Query):
    """`?from=&to=`: UTC days, both inclusive."""

    date_from: Day | None = Field(None, alias="from", description="From this UTC day.")
    date_to: Day | None = Field(None, alias="to", description="Up to this UTC day, inclusive.")


class TransactionQuery(PageQuery, DayRangeQuery):
    type: TransactionType | None = Field(None, description="Only lines of this type.")


class AnalyticsQuery(DayRangeQuery):
    """Without `from`: the last 30 days, 12 weeks or 12 calendar months up to `to`
    (today by default). At most 400 buckets."""

    period: Period = Field("month", description="The size of each bucket.")


class AdjustmentRequest(RequestBody):
    model_config = examples(
        {"amount": 1500, "reason": "Goodwill: the lesson on 3 May ran long"},
        {"amount": -325, "reason": "Duplicate bonus"},
    )

    amount: Money = Field(
        description="Not zero: a positive amount credits the tutor's available balance, a "
        "negative one debits it, never below zero (409 `insufficient_funds`).",
        json_schema_extra={"not": {"const": 0}},
    )
    reason: said(255) = Field(description="Required; the tutor reads it on their statement.")


# --- answers --------------------------------------------------------------------------


class WalletFigures(Answer):
    balance: Money = Field(
        validation_alias=AliasChoices("available", "balance"),
        description="Available to pay out; below zero while the tutor is in debt.",
    )
    pending: Money = Field(description="Earned, held until the hold ends.")
    in_flight: Money = Field(description="Asked for in payouts not yet completed.")
    debt: Money = Field(description="What refunds after release took beyond the balance.")
    total_earned: Money
    total_withdrawn: Money
    currency: Currency
    payout_threshold: Money
    auto_payout_enabled: bool


class WalletAnswer(WalletFigures):
    model_config = examples(WALLET_EXAMPLE)

    bank_last4: str | None = Field(
        description="The last four characters of the bank account; never more."
    )

    @classmethod
    def of(cls, summary: WalletSummary, bank_last4: str | None) -> WalletAnswer:
        return cls(**dict(WalletFigures.model_validate(summary)), bank_last4=bank_last4)


class StatementLine(Answer):
    id: int
    type: TransactionType
    description: str
    amount: Money = Field(description="The figure the tutor reads (a payout request < 0).")
    available_change: Money
    pending_change: Money
    in_flight_change: Money
    balance_after: Money = Field(validation_alias=AliasChoices("available_after", "balance_after"))
    pending_after: Money
    in_flight_after: Money
    booking_id: int | None
    payment_id: int | None
    payout_id: int | None
    entry_id: int = Field(description="The ledger entry the line projects.")
    created_at: Timestamp


class TransactionAnswer(StatementLine):
    """A statement line: how each balance moved, and the balances after it."""

    model_config = examples(LINE_EXAMPLE)

    currency: Currency

    @classmethod
    def of(cls, line: WalletTransaction, currency: str) -> TransactionAnswer:
        return cls(**dict(StatementLine.model_validate(line)), currency=currency)


class BucketAnswer(Answer):
    period_start: date = Field(validation_alias=AliasChoices("start", "period_start"))
    earned: Money = Field(description="Net earnings, after the platform fee.")
    fees: Money = Field(description="The platform fee kept on them.")
    lessons: int
    refunds: Money = Field(description="The tutor's share given back.")
    net: Money = Field(description="earned − refunds.")


class AnalyticsAnswer(Answer):
    """Earnings per day, week or month; every bucket of the range, zeros included."""

    model_config = ConfigDict(
        serialize_by_alias=True,
        **examples(
            {
                "period": "month",
                "from": "2025-11-01",
                "to": "2026-10-25",
                "currency": "usd",
                "results": [
                    {"period_start": "2026-10-01", "earned": 12325, "fees": 2175,
                     "lessons": 4, "refunds": 0, "net": 12325}
                ],
            }
        ),
    )  # fmt: skip

    period: Period
    date_from: date = Field(alias="from")
    date_to: date = Field(alias="to")
    currency: Currency
    results: list[BucketAnswer]

    @classmethod
    def of(
        cls, period: str, span: tuple[date, date], currency: str, buckets: list[Bucket]
    ) -> AnalyticsAnswer:
        results = [BucketAnswer.model_validate(bucket) for bucket in buckets]
        return cls(
            period=period, date_from=span[0], date_to=span[1], currency=currency, results=results
        )
