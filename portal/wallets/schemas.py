"""The wallet API's requests and answers (`/api/v1/wallet/`, and the admins' adjustments
under `/api/v1/admin/wallets/`)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AliasChoices, ConfigDict, Field, StrictBool

from portal.contract.schemas import (
    Answer,
    Currency,
    Day,
    Money,
    PageQuery,
    PositiveMoney,
    Query,
    RequestBody,
    Timestamp,
    examples,
    said,
    text,
)
from portal.wallets.analytics import PERIODS, Bucket
from portal.wallets.models import TransactionType, WalletTransaction
from portal.wallets.summary import WalletSummary

Period = Literal[PERIODS]
# Strings whose shape the bank-details service checks (and names the field when it is
# wrong); the schema only bounds their size.
BankText = text(64)

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


class SettingsRequest(RequestBody):
    """Any of the fields; `null` or absent leaves a field as it is. Bank details are
    either an IBAN or a US account and routing number; a change may give only some of
    them, but the result must be complete. Every field is checked before anything is
    written."""

    model_config = examples(
        {"payout_threshold": 5000, "auto_payout_enabled": True},
        {"bank_account_holder": "Ana Lima", "bank_name": "Deutsche Bank",
         "bank_iban": "DE89 3704 0044 0532 0130 00"},
        {"stripe_account_id": "acct_1Nv0FGQ9RKHgCVdK"},
    )  # fmt: skip

    payout_threshold: PositiveMoney | None = Field(
        None, description="Auto-payout threshold in minor units, at least the minimum payout."
    )
    auto_payout_enabled: StrictBool | None = None
    bank_account_holder: text(100) | None = Field(None, description="2 to 100 characters.")
    bank_name: text(100) | None = Field(None, description="2 to 100 characters.")
    bank_country: BankText | None = Field(
        None, description="ISO 3166 two-letter code; a new IBAN's own country when left out."
    )
    bank_iban: BankText | None = Field(None, description="Spaces allowed; check digits checked.")
    bank_account_number: BankText | None = Field(
        None, description="A US account's 4 to 17 digits (spaces and dashes allowed)."
    )
    bank_routing_number: BankText | None = Field(None, description="The 9-digit ABA number.")
    stripe_account_id: BankText | None = Field(
        None,
        description="`acct_` and 16 letters and digits, for `stripe` payouts; "
        '`null` or `""` removes the connected account.',
    )


class AdjustmentRequest(RequestBody):
    model_config = examples(
        {"amount": 1500, "reason": "Goodwill: the lesson on 3 May ran long"},
        {"amount": -325, "reason": "Duplicate bonus"},
    )

    amount: Money = Field(
        description="Not zero: a positive amount credits the tutor's available balance, a "
        "negative one debits it, never below zero (409 `insufficient_funds`)."
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
