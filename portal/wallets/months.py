"""A wallet's monthly totals: one movement's figures, the same figures in SQL, the upsert.

The totals (earned, fees, lessons, refunds per calendar month, UTC) are kept with every
earning and refund so the dashboard's chart reads a row per month. The movement
projection adds `month_figures` to them; the analytics and the invariant check sum the
statement lines with `figures_sql` and must agree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from portal.db import is_postgres
from portal.extensions import db
from portal.ledger.accounts import total
from portal.wallets.models import EARNING_TYPES, REFUND_TYPES, WalletMonth, WalletTransaction

MONTH_FIGURES = ("earned", "fees", "lessons", "refunds")
MONTHLY_TYPES = (*EARNING_TYPES, *REFUND_TYPES)


def month_of(when: datetime) -> date:
    return when.astimezone(UTC).date().replace(day=1)


def month_figures(line_type: str, amount: int, fee: int | None) -> dict[str, int] | None:
    """What one statement line adds to its month; None for a line that adds nothing."""
    if line_type not in MONTHLY_TYPES:
        return None
    if line_type in EARNING_TYPES:
        return {"earned": amount, "fees": fee, "lessons": 1, "refunds": 0}
    return {"earned": 0, "fees": 0, "lessons": 0, "refunds": -amount}


def figures_sql() -> list:
    """SQL sums of earned, fees, lessons, refunds over statement lines."""
    t = WalletTransaction
    is_earning = t.type.in_(EARNING_TYPES)
    zero = sa.literal(0)
    return [
        total(sa.case((is_earning, t.amount), else_=zero)).label("earned"),
        total(sa.case((is_earning, t.fee), else_=zero)).label("fees"),
        total(sa.case((is_earning, 1), else_=zero)).label("lessons"),
        total(sa.case((t.type.in_(REFUND_TYPES), -t.amount), else_=zero)).label("refunds"),
    ]


def bucket_sql(period: str):
    """SQL: the first day of the day / week / month a statement line falls in (UTC)."""
    created = WalletTransaction.created_at
    if is_postgres(db.session):
        return sa.cast(sa.func.date_trunc(period, sa.func.timezone("UTC", created)), sa.Date)
    # SQLite keeps UTC datetimes as text, "YYYY-MM-DD HH:MM:SS.ffffff".
    if period == "day":
        return sa.func.substr(created, 1, 10)
    if period == "week":  # back to Monday: on to the next Sunday, then six days back
        return sa.func.date(created, "weekday 0", "-6 days")
    return sa.func.substr(created, 1, 7) + "-01"


_MONTH_UPSERTS: dict[str, sa.Insert] = {}


def month_upsert(dialect: str) -> sa.Insert:
    """Add figures to a month's row, opening it if needed; parameters as `month_figures`
    plus ``wallet_id`` and ``month``."""
    if dialect not in _MONTH_UPSERTS:
        table = WalletMonth.__table__
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        sums = {name: table.c[name] + insert.excluded[name] for name in MONTH_FIGURES}
        _MONTH_UPSERTS[dialect] = insert.on_conflict_do_update(
            index_elements=["wallet_id", "month"], set_=sums
        )
    return _MONTH_UPSERTS[dialect]


def rebuild_monthly_totals(wallet_id: int) -> None:
    """Recompute a wallet's monthly totals from its statement (a repair tool; bulk loads)."""
    table = WalletMonth.__table__
    db.session.execute(sa.delete(table).where(table.c.wallet_id == wallet_id))
    month = bucket_sql("month")
    db.session.execute(
        sa.insert(table).from_select(
            ["wallet_id", "month", *MONTH_FIGURES],
            sa.select(WalletTransaction.wallet_id, month, *figures_sql())
            .where(
                WalletTransaction.wallet_id == wallet_id,
                WalletTransaction.type.in_(MONTHLY_TYPES),
            )
            .group_by(WalletTransaction.wallet_id, month),
        )
    )
