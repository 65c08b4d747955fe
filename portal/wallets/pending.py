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

from portal.bookings.models import Booking, BookingStatus
from portal.extensions import db
from portal.ledger.models import EARNING_KINDS, EntryKind, LedgerEntry
from portal.wallets.earnings import remaining_pending
from portal.wallets.models import TutorWallet


@dataclass(frozen=True)
class PendingEarning:
    entry_id: int
    posted_at: datetime
    amount: int  # what is still pending of it
    lesson: Booking | None
    available_at: datetime
    estimated: bool  # the lesson is not completed yet: the date moves with its completion


def pending_earnings(tutor_id: int) -> list[PendingEarning]:
    """The tutor's earnings not yet released and not refunded away, soonest available first."""
    hold = timedelta(days=current_app.config["EARNINGS_HOLD_DAYS"])
    released = so.aliased(LedgerEntry)
    remaining = remaining_pending().label("remaining")
    rows = db.session.execute(
        sa.select(LedgerEntry.id, LedgerEntry.created_at, remaining, Booking)
        .join(TutorWallet, TutorWallet.tutor_id == LedgerEntry.tutor_id)
        .outerjoin(Booking, Booking.id == LedgerEntry.booking_id)
        .where(
            LedgerEntry.tutor_id == tutor_id,
            LedgerEntry.kind.in_(EARNING_KINDS),
            ~sa.exists().where(
                released.parent_id == LedgerEntry.id,
                released.kind == EntryKind.EARNING_RELEASED.value,
            ),
        )
    ).all()
    earnings = []
    for entry_id, posted_at, amount, lesson in rows:
        if amount <= 0:
            continue
        if lesson is None:
            when, estimated = posted_at + hold, False
        elif lesson.status == BookingStatus.COMPLETED and lesson.completed_at:
            when, estimated = lesson.completed_at + hold, False
        else:
            when, estimated = lesson.ends_at + hold, True
        earnings.append(PendingEarning(entry_id, posted_at, amount, lesson, when, estimated))
    return sorted(earnings, key=lambda e: (e.available_at, e.entry_id))
