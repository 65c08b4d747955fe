"""A tutor's pending earnings, one by one, with when each becomes available.

The release rule is `portal.wallets.earnings`'s: available `EARNINGS_HOLD_DAYS` after the
lesson is completed (an earning without a lesson: after it was posted). For a lesson not
completed yet the date is an estimate: that long after the lesson ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app
from sqlalchemy.dialects import postgresql

from portal.bookings.models import Booking, BookingStatus
from portal.db import MAX_ID, is_postgres
from portal.extensions import db
from portal.ledger.models import EARNING_KINDS, EntryKind, LedgerEntry
from portal.wallets.earnings import remaining_pending
from portal.wallets.models import TransactionType, TutorWallet, WalletTransaction

EARNING_LINE_TYPES = (TransactionType.EARNING, TransactionType.SUBSCRIPTION_EARNING)


@dataclass(frozen=True)
class PendingEarning:
    entry_id: int
    posted_at: datetime
    amount: int  # what is still pending of it
    lesson: Booking | None
    available_at: datetime
    estimated: bool  # the lesson is not completed yet: the date moves with its completion


SHOWN = 10


def pending_earnings(
    tutor_id: int, pending: int | None = None, limit: int = SHOWN
) -> list[PendingEarning]:
    """The tutor's next `limit` earnings to become available (not yet released, not
    refunded away), soonest first.

    With `pending` (the wallet's pending balance, which is what its unreleased earnings
    still hold between them) the earnings are read newest first, a batch at a time, until
    what they hold adds up to it: older ones, released long ago, are not read at all, so
    the page costs one query with a statement of any length (more only when an earning
    still pending is older than a batch of newer ones).
    """
    hold = timedelta(days=current_app.config["EARNINGS_HOLD_DAYS"])
    if pending is None:
        rows = db.session.execute(_ALL_PENDING, {"tutor_id": tutor_id}).all()
    else:
        rows, held, before = [], 0, MAX_ID
        in_batch = _PENDING_IN_ARRAY if is_postgres(db.session) else _PENDING_IN_BATCH
        while held < pending:
            params = {"tutor_id": tutor_id, "before": before, "batch": BATCH}
            found = db.session.execute(in_batch, params).all()
            rows += found
            held += sum(amount for _, _, amount, _ in found)
            if held >= pending:
                break
            before = db.session.scalar(_BATCH_END, params)
            if before is None:
                break
    earnings = []
    for entry_id, posted_at, amount, lesson in rows:
        if lesson is None:
            when, estimated = posted_at + hold, False
        elif lesson.status == BookingStatus.COMPLETED and lesson.completed_at:
            when, estimated = lesson.completed_at + hold, False
        else:
            when, estimated = lesson.ends_at + hold, True
        earnings.append(PendingEarning(entry_id, posted_at, amount, lesson, when, estimated))
    return sorted(earnings, key=lambda e: (e.available_at, e.entry_id))[:limit]


BATCH = 200


def _earning_lines() -> sa.Select:
    """The tutor's next `BATCH` earning lines (their ids) before the line `before`, newest
    first. The keyset is on (wallet, id), the index's columns, so the database walks
    that index back from the cursor, however many lines other wallets have."""
    t = WalletTransaction
    wallet = (
        sa.select(TutorWallet.id)
        .where(TutorWallet.tutor_id == sa.bindparam("tutor_id"))
        .scalar_subquery()
    )
    return (
        sa.select(t.id)
        .where(
            t.wallet_id == wallet,
            sa.tuple_(t.wallet_id, t.id) < sa.tuple_(wallet, sa.bindparam("before")),
            t.type.in_(EARNING_LINE_TYPES),
        )
        .order_by(t.id.desc())
        .limit(sa.bindparam("batch", type_=sa.Integer))
    )


def _pending_rows() -> sa.Select:
    """(entry id, posted at, still pending, lesson) of the tutor's unreleased earnings
    that still hold something (not refunded away)."""
    released = so.aliased(LedgerEntry)
    remaining = remaining_pending()
    return (
        sa.select(LedgerEntry.id, LedgerEntry.created_at, remaining.label("remaining"), Booking)
        .join(TutorWallet, TutorWallet.tutor_id == LedgerEntry.tutor_id)
        .outerjoin(Booking, Booking.id == LedgerEntry.booking_id)
        .where(
            LedgerEntry.tutor_id == sa.bindparam("tutor_id"),
            LedgerEntry.kind.in_(EARNING_KINDS),
            ~sa.exists().where(
                released.parent_id == LedgerEntry.id,
                released.kind == EntryKind.EARNING_RELEASED.value,
            ),
            remaining > 0,
        )
    )


# Built once: composing these costs more than running them (the earnings page runs one).
_ALL_PENDING = _pending_rows()
_BATCH_ENTRIES = _earning_lines().with_only_columns(WalletTransaction.entry_id)
_PENDING_IN_BATCH = _pending_rows().where(LedgerEntry.id.in_(_BATCH_ENTRIES))
# PostgreSQL is handed the batch's entry ids as one array: with `id IN (subquery)` its
# planner chose a semi-join that read every earning the tutor ever had (9,000 rows for a
# 20,000-line statement, 7.7 ms) to keep 200; `id = ANY(array)` looks the 200 up by
# primary key (1.3 ms).
_BATCH_ARRAY = sa.cast(
    sa.select(sa.func.array_agg(_BATCH_ENTRIES.subquery().c.entry_id)).scalar_subquery(),
    postgresql.ARRAY(sa.BigInteger),
)
_PENDING_IN_ARRAY = _pending_rows().where(LedgerEntry.id == sa.any_(_BATCH_ARRAY))
_BATCH_END = sa.select(sa.func.min(_earning_lines().subquery().c.id))
