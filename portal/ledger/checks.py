"""The ledger's own invariants: balanced entries, tutor accounts moved only by their tutor.

The wallet invariants live with the wallets (`portal.wallets.checks`); `portal.books.checks`
runs both as the full check.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from portal.extensions import db
from portal.ledger.accounts import total
from portal.ledger.models import LedgerAccount, LedgerEntry, LedgerPosting

MAX_REPORTED = 20


@dataclass(frozen=True)
class Drift:
    """One broken invariant: which one, and where."""

    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.detail}"


def ledger_drifts() -> list[Drift]:
    """Every entry has at least two postings summing to zero, and a tutor's account is
    only moved by that tutor's entries."""
    return _unbalanced_entries() + _foreign_tutor_postings()


def _unbalanced_entries() -> list[Drift]:
    summed = total(LedgerPosting.amount)
    count = sa.func.count(LedgerPosting.id)
    rows = db.session.execute(
        sa.select(LedgerEntry.id, LedgerEntry.idempotency_key, summed, count)
        .outerjoin(LedgerPosting, LedgerPosting.entry_id == LedgerEntry.id)
        .group_by(LedgerEntry.id, LedgerEntry.idempotency_key)
        .having(sa.or_(summed != 0, count < 2))
        .order_by(LedgerEntry.id)
        .limit(MAX_REPORTED)
    ).all()
    return [
        Drift("entry not balanced", f"entry {i} ({key}) sums to {s} over {n} posting(s)")
        for i, key, s, n in rows
    ]


def _foreign_tutor_postings() -> list[Drift]:
    rows = db.session.execute(
        sa.select(LedgerPosting.id, LedgerEntry.id, LedgerAccount.code)
        .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .where(
            LedgerAccount.tutor_id.is_not(None),
            sa.or_(LedgerEntry.tutor_id.is_(None), LedgerEntry.tutor_id != LedgerAccount.tutor_id),
        )
        .limit(MAX_REPORTED)
    ).all()
    return [
        Drift("posting on another tutor's account", f"posting {p} of entry {e} moves {code}")
        for p, e, code in rows
    ]
