"""Tutor wallets: a projection of the tutor's ledger accounts, and the statement lines.

`TutorWallet` holds the three balances as columns (``pending``, ``available``,
``in_flight``) plus lifetime figures and payout settings. Every change goes through
`portal.wallets.movement`, which locks the wallet row and posts a ledger entry with the
wallet's projection: the balances and one `WalletTransaction` (a statement line), in the
same transaction. Bank details live with the payouts feature.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from portal.accounts.models import User
from portal.bookings.models import Booking
from portal.db import UTCDateTime, utcnow
from portal.extensions import db
from portal.ledger.models import BigId, LedgerEntry


class TutorWallet(db.Model):
    __tablename__ = "tutor_wallets"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    tutor_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), unique=True)
    currency: so.Mapped[str] = so.mapped_column(sa.String(3))
    # Available to pay out. Negative after a refund of released money: a debt.
    available: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    pending: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    in_flight: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    # Lifetime net earnings (after the platform fee, less refunds) and payouts completed.
    total_earned: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    total_withdrawn: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    payout_threshold: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    auto_payout_enabled: so.Mapped[bool] = so.mapped_column(default=False)
    pending_account_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("ledger_accounts.id"))
    available_account_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("ledger_accounts.id"))
    in_flight_account_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("ledger_accounts.id"))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    tutor: so.Mapped[User] = so.relationship()

    __table_args__ = (
        sa.CheckConstraint("pending >= 0", name="pending_not_negative"),
        sa.CheckConstraint("in_flight >= 0", name="in_flight_not_negative"),
        sa.CheckConstraint("total_withdrawn >= 0", name="total_withdrawn_not_negative"),
        sa.CheckConstraint("payout_threshold > 0", name="payout_threshold_positive"),
    )

    @property
    def debt(self) -> int:
        """What the tutor owes the platform (a refund after release): 0 or more."""
        return -self.available if self.available < 0 else 0

    def account_ids(self) -> dict[str, int]:
        return {
            "pending": self.pending_account_id,
            "available": self.available_account_id,
            "in_flight": self.in_flight_account_id,
        }

    def __repr__(self) -> str:
        return f"<TutorWallet tutor={self.tutor_id} bal={self.available} pend={self.pending}>"


class TransactionType(enum.StrEnum):
    EARNING = "earning"
    SUBSCRIPTION_EARNING = "subscription_earning"
    RELEASE = "release"
    REFUND = "refund"
    REFUND_REVERSED = "refund_reversed"
    CREDIT = "credit"
    DEBIT = "debit"
    PAYOUT = "payout"
    PAYOUT_RETURNED = "payout_returned"
    PAYOUT_COMPLETED = "payout_completed"


# type -> (label for people, which balance the line's headline `amount` changes)
TRANSACTION_TYPES: dict[str, tuple[str, str]] = {
    TransactionType.EARNING: ("Lesson earning", "pending"),
    TransactionType.SUBSCRIPTION_EARNING: ("Subscription lesson earning", "pending"),
    TransactionType.RELEASE: ("Earning released", "available"),
    TransactionType.REFUND: ("Refund", "total"),
    TransactionType.REFUND_REVERSED: ("Refund reversed", "total"),
    TransactionType.CREDIT: ("Credit from M4SH", "available"),
    TransactionType.DEBIT: ("Debit by M4SH", "available"),
    TransactionType.PAYOUT: ("Payout requested", "available"),
    TransactionType.PAYOUT_RETURNED: ("Payout returned", "available"),
    TransactionType.PAYOUT_COMPLETED: ("Payout sent", "in_flight"),
}

EARNING_TYPES = (TransactionType.EARNING, TransactionType.SUBSCRIPTION_EARNING)
# A refund, and its undoing when the provider could not pay it out: they net off.
REFUND_TYPES = (TransactionType.REFUND, TransactionType.REFUND_REVERSED)


class WalletTransaction(db.Model):
    """A statement line: one per ledger entry that moves a tutor's wallet.

    `amount` is the headline figure a tutor reads (an earning +3825, a refund -1700, a
    payout request -10000). The three `*_change` columns say exactly how each balance
    moved, and the `*_after` columns are the balances after the line, so that the
    running sums of the changes equal the `*_after` figures line by line.
    """

    __tablename__ = "wallet_transactions"

    id: so.Mapped[int] = so.mapped_column(BigId, primary_key=True)
    wallet_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("tutor_wallets.id"))
    entry_id: so.Mapped[int] = so.mapped_column(
        BigId, sa.ForeignKey("ledger_entries.id"), unique=True
    )
    type: so.Mapped[str] = so.mapped_column(sa.String(32))
    amount: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    available_change: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    pending_change: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    in_flight_change: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    available_after: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    pending_after: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    in_flight_after: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    # For earnings: the lesson's price and the platform's fee; for refunds: the refund
    # and the fee given back. Analytics add these up.
    gross: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    fee: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    description: so.Mapped[str] = so.mapped_column(sa.String(255), default="")
    # Plain integers like on the ledger entry: the foreign keys come with the integration.
    payment_id: so.Mapped[int | None] = so.mapped_column(index=True)
    payout_id: so.Mapped[int | None] = so.mapped_column(index=True)
    booking_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("bookings.id"), index=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    entry: so.Mapped[LedgerEntry] = so.relationship()
    booking: so.Mapped[Booking | None] = so.relationship()

    __table_args__ = (
        sa.Index("ix_wallet_transactions_wallet_id_id", "wallet_id", "id"),
        sa.Index("ix_wallet_transactions_wallet_type_id", "wallet_id", "type", "id"),
        # Covers the analytics sums (earned, fees, lessons, refunds per period): the chart
        # reads the index alone, never the table.
        sa.Index(
            "ix_wallet_transactions_wallet_created",
            "wallet_id",
            "created_at",
            "type",
            "amount",
            "fee",
        ),
    )

    @property
    def label(self) -> str:
        return TRANSACTION_TYPES.get(self.type, (self.type, ""))[0]

    @property
    def bucket(self) -> str:
        return TRANSACTION_TYPES.get(self.type, ("", "available"))[1]

    @property
    def statement_amount(self) -> int:
        """The line's figure in the statement's Amount column (page and CSV).

        A payout is one debit, taken from available when it is requested; its arrival only
        moves that money out of in flight (shown apart), so the column counts it as 0 and
        the column's sum is what the tutor's money changed by.
        """
        return 0 if self.type == TransactionType.PAYOUT_COMPLETED else self.amount

    @property
    def note(self) -> str:
        """Where the money went, in a few words, for the statement."""
        if self.type in REFUND_TYPES:
            way = "from" if self.type == TransactionType.REFUND else "back to"
            if self.pending_change and self.available_change:
                return f"{way} pending and available"
            return f"{way} pending" if self.pending_change else f"{way} available"
        if self.type == TransactionType.PAYOUT:
            return "from available, now on its way"
        return {
            "pending": "pending",
            "available": "available",
            "in_flight": "sent to your bank",
        }.get(self.bucket, "")

    def __repr__(self) -> str:
        return f"<WalletTransaction {self.id} {self.type} {self.amount}>"


class WalletMonth(db.Model):
    """A wallet's earnings per calendar month (UTC), kept with every earning and refund.

    The dashboard's 12-month chart reads these 12 rows instead of summing the statement
    (which a busy tutor has by the hundred thousand); `flask ledger check` compares them
    with the statement lines.
    """

    __tablename__ = "wallet_monthly_totals"

    wallet_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("tutor_wallets.id"), primary_key=True
    )
    month: so.Mapped[date] = so.mapped_column(sa.Date, primary_key=True)
    earned: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    fees: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    lessons: so.Mapped[int] = so.mapped_column(default=0)
    refunds: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)


class TutorStatement(db.Model):
    """A tutor's statement of one calendar month (UTC), issued once after it ends.

    The figures are the ones printed on the PDF: balances at the start and the end of
    the month from the ledger's postings, and the month's movements summed from the
    statement lines; they add up (the CHECK below). The PDF is rendered once, stored,
    and served byte for byte.
    """

    __tablename__ = "tutor_statements"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    wallet_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("tutor_wallets.id"))
    tutor_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    month: so.Mapped[date] = so.mapped_column(sa.Date)  # the first day of the month
    currency: so.Mapped[str] = so.mapped_column(sa.String(3))
    opening_pending: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    opening_available: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    opening_in_flight: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    closing_pending: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    closing_available: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    closing_in_flight: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    # The month's movements of the total balance (earnings less refunds, adjustments,
    # payouts sent) and the platform fees kept on the month's lessons.
    earnings: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    fees: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    refunds: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    adjustments: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    payouts: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    line_count: so.Mapped[int] = so.mapped_column(sa.Integer)
    pdf: so.Mapped[bytes] = so.mapped_column(sa.LargeBinary, deferred=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("wallet_id", "month"),
        sa.CheckConstraint(
            "closing_pending + closing_available + closing_in_flight = opening_pending"
            " + opening_available + opening_in_flight + earnings + refunds + adjustments"
            " + payouts",
            name="balances_add_up",
        ),
    )

    @property
    def opening(self) -> int:
        return self.opening_pending + self.opening_available + self.opening_in_flight

    @property
    def closing(self) -> int:
        return self.closing_pending + self.closing_available + self.closing_in_flight
