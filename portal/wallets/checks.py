"""The wallets' invariants: projections, statements and monthly totals against postings.

`portal.books.checks` runs them after the ledger's own (`portal.ledger.checks`).
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
import sqlalchemy.orm as so

from portal.extensions import db
from portal.ledger.accounts import total
from portal.ledger.checks import MAX_REPORTED, Drift
from portal.ledger.models import LedgerEntry, LedgerPosting
from portal.wallets.models import (
    EARNING_TYPES,
    REFUND_TYPES,
    TransactionType,
    TutorWallet,
    WalletMonth,
    WalletTransaction,
)
from portal.wallets.months import MONTH_FIGURES, MONTHLY_TYPES, bucket_sql, figures_sql

BUCKETS = (
    ("pending", "pending_account_id", "pending_change", "pending_after"),
    ("available", "available_account_id", "available_change", "available_after"),
    ("in_flight", "in_flight_account_id", "in_flight_change", "in_flight_after"),
)


def wallet_drifts() -> list[Drift]:
    """Wallets against postings and statements, running sums, lines against entries,
    tutor entries without a line, monthly totals against the statement."""
    return (
        _wallets_against_postings()
        + _wallets_against_statements()
        + _running_sums()
        + _lines_against_postings()
        + _entries_without_lines()
        + _monthly_totals()
    )


def _account_sum(account_column):
    return (
        sa.select(total(LedgerPosting.amount, negate=True))
        .where(LedgerPosting.account_id == account_column)
        .correlate(TutorWallet)
        .scalar_subquery()
    )


def _wallets_against_postings() -> list[Drift]:
    columns = [_account_sum(getattr(TutorWallet, acct)) for _, acct, _, _ in BUCKETS]
    drifts = []
    for wallet, *sums in db.session.execute(sa.select(TutorWallet, *columns)).all():
        for (name, *_), summed in zip(BUCKETS, sums, strict=True):
            if getattr(wallet, name) != summed:
                drifts.append(
                    Drift(
                        "wallet differs from its postings",
                        f"tutor {wallet.tutor_id} {name} is {getattr(wallet, name)}, "
                        f"postings say {summed}",
                    )
                )
    return drifts[:MAX_REPORTED]


def _wallets_against_statements() -> list[Drift]:
    t = WalletTransaction
    earned = sa.case((t.type.in_((*EARNING_TYPES, *REFUND_TYPES)), t.amount), else_=0)
    withdrawn = sa.case((t.type == TransactionType.PAYOUT_COMPLETED, -t.amount), else_=0)
    sums = (
        sa.select(
            t.wallet_id,
            sa.func.sum(t.pending_change).label("pending"),
            sa.func.sum(t.available_change).label("available"),
            sa.func.sum(t.in_flight_change).label("in_flight"),
            sa.func.sum(earned).label("total_earned"),
            sa.func.sum(withdrawn).label("total_withdrawn"),
        )
        .group_by(t.wallet_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(TutorWallet, sums).outerjoin(sums, sums.c.wallet_id == TutorWallet.id)
    ).all()
    drifts = []
    for row in rows:
        wallet = row[0]
        for name in ("pending", "available", "in_flight", "total_earned", "total_withdrawn"):
            expected = getattr(row, name) or 0
            if getattr(wallet, name) != expected:
                drifts.append(
                    Drift(
                        "wallet differs from its statement",
                        f"tutor {wallet.tutor_id} {name} is {getattr(wallet, name)}, "
                        f"statement lines say {expected}",
                    )
                )
    return drifts[:MAX_REPORTED]


def _running_sums() -> list[Drift]:
    t = WalletTransaction
    window = {"partition_by": t.wallet_id, "order_by": t.id}
    running = sa.select(
        t.id,
        t.wallet_id,
        *[getattr(t, after) for *_, after in BUCKETS],
        *[
            sa.func.sum(getattr(t, change)).over(**window).label(f"run_{after}")
            for _, _, change, after in BUCKETS
        ],
    ).subquery()
    mismatch = sa.or_(*[running.c[after] != running.c[f"run_{after}"] for *_, after in BUCKETS])
    rows = db.session.execute(
        sa.select(running).where(mismatch).order_by(running.c.id).limit(MAX_REPORTED)
    ).all()
    return [
        Drift(
            "statement running sum differs from available_after",
            f"line {row.id} (wallet {row.wallet_id}): after "
            f"{row.pending_after}/{row.available_after}/{row.in_flight_after}, running sums "
            f"{row.run_pending_after}/{row.run_available_after}/{row.run_in_flight_after} "
            "(pending/available/in flight)",
        )
        for row in rows
    ]


def _lines_against_postings() -> list[Drift]:
    """One pass: each line joined to its entry's postings, summed per wallet account."""
    t = WalletTransaction

    def moved(account_column):
        hit = sa.case((LedgerPosting.account_id == account_column, LedgerPosting.amount), else_=0)
        return -sa.func.sum(hit)

    changes = [
        (getattr(t, change), moved(getattr(TutorWallet, acct))) for _, acct, change, _ in BUCKETS
    ]
    rows = db.session.execute(
        sa.select(t.id, t.entry_id, TutorWallet.tutor_id)
        .join(TutorWallet, TutorWallet.id == t.wallet_id)
        .join(LedgerEntry, LedgerEntry.id == t.entry_id)
        .join(LedgerPosting, LedgerPosting.entry_id == t.entry_id)
        .group_by(
            t.id, t.entry_id, TutorWallet.tutor_id, LedgerEntry.tutor_id, *[c for c, _ in changes]
        )
        .having(
            sa.or_(
                LedgerEntry.tutor_id != TutorWallet.tutor_id,
                *[column != summed for column, summed in changes],
            )
        )
        .order_by(t.id)
        .limit(MAX_REPORTED)
    ).all()
    return [
        Drift(
            "statement line differs from its entry",
            f"line {line} of tutor {tutor} does not match the postings of entry {entry}",
        )
        for line, entry, tutor in rows
    ]


def _entries_without_lines() -> list[Drift]:
    line = so.aliased(WalletTransaction)
    rows = db.session.execute(
        sa.select(LedgerEntry.id, LedgerEntry.idempotency_key, LedgerEntry.tutor_id)
        .where(
            LedgerEntry.tutor_id.is_not(None),
            ~sa.exists().where(line.entry_id == LedgerEntry.id),
        )
        .order_by(LedgerEntry.id)
        .limit(MAX_REPORTED)
    ).all()
    return [
        Drift("entry without a statement line", f"entry {i} ({key}) of tutor {tutor}")
        for i, key, tutor in rows
    ]


def _monthly_totals() -> list[Drift]:
    """The monthly totals behind the dashboard's chart equal their statement lines."""
    t = WalletTransaction
    month = bucket_sql("month").label("month")
    from_lines = {
        (row.wallet_id, _as_date(row.month)): tuple(row[2:])
        for row in db.session.execute(
            sa.select(t.wallet_id, month, *figures_sql())
            .where(t.type.in_(MONTHLY_TYPES))
            .group_by(t.wallet_id, month)
        )
    }
    kept = {
        (row.wallet_id, row.month): tuple(getattr(row, name) for name in MONTH_FIGURES)
        for row in db.session.scalars(sa.select(WalletMonth))
    }
    drifts = []
    for key in sorted(set(from_lines) | set(kept)):
        expected, found = from_lines.get(key, (0, 0, 0, 0)), kept.get(key, (0, 0, 0, 0))
        if expected != found:
            drifts.append(
                Drift(
                    "monthly totals differ from the statement",
                    f"wallet {key[0]} {key[1]:%Y-%m}: kept {found}, statement says {expected} "
                    "(earned, fees, lessons, refunds)",
                )
            )
    return drifts[:MAX_REPORTED]


def _as_date(value):
    return value if isinstance(value, date) else date.fromisoformat(value)
