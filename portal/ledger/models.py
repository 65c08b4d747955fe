"""The ledger: every movement of money in the portal, double-entry and append-only.

Design overview
===============

**Accounts** (`LedgerAccount`). A named bucket of money. The platform has a few fixed
accounts, created on first use:

- ``provider_cash``: money held for us at the payment provider (an asset),
- ``fee_revenue``: the platform fee we earned (revenue),
- ``payouts_paid``: money sent out to tutors' banks (cash that left the platform),
- ``adjustments``: what admins credited to (or debited from) tutors by hand,
- ``subscriptions_unearned``: subscription invoices paid and not yet earned (a
  liability: lessons still owed to the student),
- ``subscription_revenue``: what a subscription period left over when it ended.
- ``invoice_revenue``: what students paid on invoices an admin issued (no tutor share).

Each tutor has three accounts, opened with their wallet: ``tutor:<id>:pending`` (earned,
not yet released), ``tutor:<id>:available`` (may be paid out; negative = a debt) and
``tutor:<id>:in_flight`` (reserved by a payout that has not completed yet). Tutor
accounts are liabilities: money the platform owes.

**Entries and postings** (`LedgerEntry`, `LedgerPosting`). An entry records one business
event (a payment captured, an earning released, a refund, a payout requested /
returned / completed, an adjustment) as two or more postings, each a signed amount of
minor units on one account. Positive is a debit, negative a credit: assets and the
adjustments expense grow with debits; revenue and what we owe tutors grow with credits,
so their balances are negative sums and are shown sign-flipped.

**The zero-sum rule.** The postings of every entry add up to exactly zero: money is
never created or lost, only moved. The service checks it before writing; the database
checks it again: on PostgreSQL deferred constraint triggers on both tables (see
`LEDGER_POSTGRES_DDL`) check every entry at commit; on SQLite postings are written through
the ORM and a flush-time guard (`portal.ledger.guard`, installed by the app factory)
refuses an unbalanced set.

**Append-only.** Entries and postings are never updated or deleted; a correction is a new,
reversing entry. PostgreSQL refuses UPDATE and DELETE with triggers; the ORM refuses to
flush a change to a loaded entry or posting on every backend.

**Idempotency.** Every entry carries a unique idempotency key such as
``payment:42:captured``. Posting a key that exists returns the existing entry and writes
nothing, also when two callers race (the unique index decides; see `posting.post`).

**Wallets project from it.** `portal.wallets.models.TutorWallet` holds the tutor's three
balances (``pending``, ``available``, ``in_flight``) as plain columns, updated
in the same transaction as the postings, with the wallet row locked first: the wallets
hand `posting.post` their projection, which it writes with the entry (on PostgreSQL in
the same statement). Each wallet column is minus the sum of the postings on the matching
tutor account, and every wallet movement writes one statement line (`WalletTransaction`)
carrying the changes and the balances after it. `flask ledger check` (`portal.books.checks`)
recomputes all of this from the postings and names every drift.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from portal.db import UTCDateTime, utcnow
from portal.extensions import db

# Big integer keys on PostgreSQL; SQLite only autoincrements a plain INTEGER primary key.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class AccountType(enum.StrEnum):
    ASSET = "asset"
    # Money that left an asset for good (cash paid out to tutors): credit-normal.
    CONTRA_ASSET = "contra_asset"
    LIABILITY = "liability"
    REVENUE = "revenue"
    EXPENSE = "expense"


# Which sign a healthy balance has: debit-normal accounts are shown as the sum of their
# postings, credit-normal ones as minus that sum.
DEBIT_NORMAL = {AccountType.ASSET, AccountType.EXPENSE}


class PlatformAccount(enum.StrEnum):
    PROVIDER_CASH = "provider_cash"
    FEE_REVENUE = "fee_revenue"
    PAYOUTS_PAID = "payouts_paid"
    ADJUSTMENTS = "adjustments"
    SUBSCRIPTIONS_UNEARNED = "subscriptions_unearned"
    SUBSCRIPTION_REVENUE = "subscription_revenue"
    INVOICE_REVENUE = "invoice_revenue"


PLATFORM_ACCOUNTS: dict[str, tuple[str, AccountType]] = {
    PlatformAccount.PROVIDER_CASH: ("Cash held at the payment provider", AccountType.ASSET),
    PlatformAccount.FEE_REVENUE: ("Platform fee revenue", AccountType.REVENUE),
    # Credit-normal: its balance is what has been paid out to tutors in total.
    PlatformAccount.PAYOUTS_PAID: ("Paid out to tutors", AccountType.CONTRA_ASSET),
    PlatformAccount.ADJUSTMENTS: ("Manual adjustments to tutor wallets", AccountType.EXPENSE),
    PlatformAccount.SUBSCRIPTIONS_UNEARNED: (
        "Subscription payments not yet earned",
        AccountType.LIABILITY,
    ),
    PlatformAccount.SUBSCRIPTION_REVENUE: ("Subscription revenue", AccountType.REVENUE),
    # Invoices an admin issued and their students paid: the platform's own, no tutor share.
    PlatformAccount.INVOICE_REVENUE: ("Revenue from manual invoices", AccountType.REVENUE),
}


class TutorBucket(enum.StrEnum):
    PENDING = "pending"
    AVAILABLE = "available"
    IN_FLIGHT = "in_flight"


def tutor_account_code(tutor_id: int, bucket: str) -> str:
    return f"tutor:{tutor_id}:{bucket}"


class EntryKind(enum.StrEnum):
    LESSON_EARNING = "lesson_earning"
    SUBSCRIPTION_EARNING = "subscription_earning"
    # A subscription invoice paid: provider cash into unearned subscription revenue.
    SUBSCRIPTION_PAID = "subscription_paid"
    # What a period left unshared: unearned subscription revenue into revenue.
    SUBSCRIPTION_UNUSED = "subscription_unused"
    EARNING_RELEASED = "earning_released"
    REFUND = "refund"
    REFUND_REVERSED = "refund_reversed"
    ADJUSTMENT_CREDIT = "adjustment_credit"
    ADJUSTMENT_DEBIT = "adjustment_debit"
    PAYOUT_RESERVED = "payout_reserved"
    PAYOUT_RETURNED = "payout_returned"
    PAYOUT_COMPLETED = "payout_completed"
    INVOICE_PAID = "invoice_paid"
    INVOICE_REFUND = "invoice_refund"
    INVOICE_REFUND_REVERSED = "invoice_refund_reversed"


EARNING_KINDS = (EntryKind.LESSON_EARNING, EntryKind.SUBSCRIPTION_EARNING)


class LedgerAccount(db.Model):
    __tablename__ = "ledger_accounts"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    code: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    type: so.Mapped[str] = so.mapped_column(sa.String(16))
    tutor_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.CheckConstraint(
            "type IN ('asset', 'contra_asset', 'liability', 'revenue', 'expense')", name="type"
        ),
    )

    @property
    def debit_normal(self) -> bool:
        return self.type in DEBIT_NORMAL

    def __repr__(self) -> str:
        return f"<LedgerAccount {self.code}>"


class LedgerEntry(db.Model):
    """One business event. Immutable once written; see the module docstring."""

    __tablename__ = "ledger_entries"

    id: so.Mapped[int] = so.mapped_column(BigId, primary_key=True)
    idempotency_key: so.Mapped[str] = so.mapped_column(sa.String(200), unique=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(32), index=True)
    memo: so.Mapped[str] = so.mapped_column(sa.String(255), default="")
    # The tutor whose wallet the entry moves, when there is one.
    tutor_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    actor_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    # Plain integers for now: the payments and payouts tables arrive with their features,
    # and the foreign keys with the migration that joins them.
    payment_id: so.Mapped[int | None] = so.mapped_column(index=True)
    payout_id: so.Mapped[int | None] = so.mapped_column(index=True)
    booking_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("bookings.id"), index=True)
    # A release or refund points at the earning it settles.
    parent_id: so.Mapped[int | None] = so.mapped_column(
        BigId, sa.ForeignKey("ledger_entries.id"), index=True
    )
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    postings: so.Mapped[list[LedgerPosting]] = so.relationship(
        back_populates="entry", order_by="LedgerPosting.id"
    )

    def __repr__(self) -> str:
        return f"<LedgerEntry {self.id} {self.kind} {self.idempotency_key!r}>"


class LedgerPosting(db.Model):
    __tablename__ = "ledger_postings"

    id: so.Mapped[int] = so.mapped_column(BigId, primary_key=True)
    entry_id: so.Mapped[int] = so.mapped_column(BigId, sa.ForeignKey("ledger_entries.id"))
    account_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("ledger_accounts.id"))
    # Signed minor units: positive = debit, negative = credit. Never zero.
    amount: so.Mapped[int] = so.mapped_column(sa.BigInteger)

    entry: so.Mapped[LedgerEntry] = so.relationship(back_populates="postings")
    account: so.Mapped[LedgerAccount] = so.relationship()

    __table_args__ = (
        sa.CheckConstraint("amount <> 0", name="amount_not_zero"),
        sa.Index("ix_ledger_postings_entry_id", "entry_id"),
        # Balances are sums per account; the amount in the index makes them index-only.
        sa.Index("ix_ledger_postings_account_amount", "account_id", "amount"),
    )


# The database's half of the rules above, for PostgreSQL. Kept as one string so a
# migration can run it verbatim (`op.execute(LEDGER_POSTGRES_DDL)`): no bind-parameter
# colons and no percent signs in it. Row triggers do not fire on TRUNCATE, which is how
# the test suite empties tables between tests.
LEDGER_POSTGRES_DDL = """
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'restrict_violation',
        MESSAGE = TG_TABLE_NAME || ' is append-only: ' || TG_OP || ' refused',
        HINT = 'Post a new, reversing entry instead.';
END
$$;

CREATE OR REPLACE FUNCTION ledger_check_entry_sum(checked_entry bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    total numeric;
    lines integer;
BEGIN
    SELECT coalesce(sum(amount), 0), count(*) INTO total, lines
    FROM ledger_postings WHERE entry_id = checked_entry;
    IF lines < 2 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'check_violation',
            MESSAGE = 'ledger entry ' || checked_entry || ' has ' || lines
                || ' posting(s); it needs at least 2';
    END IF;
    IF total <> 0 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'check_violation',
            MESSAGE = 'ledger entry ' || checked_entry || ' does not sum to zero (off by '
                || total || ')';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION ledger_entry_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ledger_check_entry_sum(NEW.id);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION ledger_posting_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ledger_check_entry_sum(NEW.entry_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE TRIGGER ledger_postings_append_only
    BEFORE UPDATE OR DELETE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE CONSTRAINT TRIGGER ledger_entries_zero_sum
    AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced();

CREATE CONSTRAINT TRIGGER ledger_postings_zero_sum
    AFTER INSERT ON ledger_postings
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_posting_balanced();
"""

# The migration's downgrade: dropping the tables drops their triggers, not the functions.
LEDGER_POSTGRES_DROP_DDL = """
DROP TRIGGER IF EXISTS ledger_postings_zero_sum ON ledger_postings;
DROP TRIGGER IF EXISTS ledger_entries_zero_sum ON ledger_entries;
DROP TRIGGER IF EXISTS ledger_postings_append_only ON ledger_postings;
DROP TRIGGER IF EXISTS ledger_entries_append_only ON ledger_entries;
DROP FUNCTION IF EXISTS ledger_posting_balanced();
DROP FUNCTION IF EXISTS ledger_entry_balanced();
DROP FUNCTION IF EXISTS ledger_check_entry_sum(bigint);
DROP FUNCTION IF EXISTS ledger_refuse_change();
"""

# The postings table is created after the entries table (it refers to it), so both
# exist when this runs; `db.create_all()` gets the triggers without a migration.
sa.event.listen(
    LedgerPosting.__table__,
    "after_create",
    sa.DDL(LEDGER_POSTGRES_DDL).execute_if(dialect="postgresql"),
)
