"""Ledger accounts and their balances: opening accounts, summing postings."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from portal.extensions import db
from portal.ledger.models import DEBIT_NORMAL, PLATFORM_ACCOUNTS, LedgerAccount, LedgerPosting


def insert_or_skip(model):
    """INSERT … ON CONFLICT DO NOTHING for the session's backend."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def total(column, *, negate: bool = False):
    """SUM(column) as a BIGINT, 0 when there are no rows (PostgreSQL sums to NUMERIC)."""
    summed = sa.func.sum(column)
    return sa.cast(sa.func.coalesce(-summed if negate else summed, 0), sa.BigInteger)


def ensure_accounts(rows: Iterable[tuple[str, str, str, int | None]]) -> dict[str, int]:
    """Open the accounts (code, name, type, tutor_id) that do not exist; return code -> id.

    Safe under a race: the unique code decides, and a loser simply reads the winner's row.
    """
    rows = list(rows)
    db.session.execute(
        insert_or_skip(LedgerAccount)
        .values([{"code": c, "name": n, "type": t, "tutor_id": u} for c, n, t, u in rows])
        .on_conflict_do_nothing(index_elements=["code"])
    )
    codes = [row[0] for row in rows]
    found = db.session.execute(
        sa.select(LedgerAccount.code, LedgerAccount.id).where(LedgerAccount.code.in_(codes))
    ).all()
    return dict(found)


def platform_account_ids() -> dict[str, int]:
    return ensure_accounts((code, name, t, None) for code, (name, t) in PLATFORM_ACCOUNTS.items())


def account_balance(account_id: int) -> int:
    """The raw balance (sum of postings, debit positive) of one account."""
    return db.session.scalar(
        sa.select(total(LedgerPosting.amount)).where(LedgerPosting.account_id == account_id)
    )


def display_balance(account: LedgerAccount, raw: int) -> int:
    """A balance with the sign people expect: what the account holds, owes or earned."""
    return raw if account.type in DEBIT_NORMAL else -raw


def platform_balances() -> list[tuple[LedgerAccount, int]]:
    """Every platform account with its balance, in one query."""
    rows = db.session.execute(
        sa.select(LedgerAccount, total(LedgerPosting.amount))
        .outerjoin(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
        .where(LedgerAccount.tutor_id.is_(None))
        .group_by(LedgerAccount.id)
        .order_by(LedgerAccount.id)
    ).all()
    return [(account, display_balance(account, raw)) for account, raw in rows]
