"""A tutor's earnings: a paid lesson or subscription lesson earns into pending, and
the hourly release moves due earnings from pending to available.

**Release rule.** An earning moves from pending to available once its booking is
``completed`` and the completion is at least ``EARNINGS_HOLD_DAYS`` old. An earning
without a booking is released ``EARNINGS_HOLD_DAYS`` after it was posted. Only what is
still pending is released (a refund may already have taken part of it back).

The movement contract and money paths: `portal.wallets.movement`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app

from portal.bookings.models import Booking, BookingStatus
from portal.db import utcnow
from portal.extensions import db
from portal.ledger import posting as ledger
from portal.ledger.accounts import total
from portal.ledger.models import (
    EARNING_KINDS,
    EntryKind,
    LedgerEntry,
    LedgerPosting,
    PlatformAccount,
)
from portal.money import require_int
from portal.wallets import arguments as check
from portal.wallets.batch import apply_batch
from portal.wallets.models import TransactionType, TutorWallet, WalletTransaction
from portal.wallets.movement import Move, apply, apply_in_one, begin, lock_wallet

CASH = PlatformAccount.PROVIDER_CASH
FEES = PlatformAccount.FEE_REVENUE
UNEARNED = PlatformAccount.SUBSCRIPTIONS_UNEARNED


def process_lesson_earning(
    *,
    tutor_id: int,
    gross: int,
    fee: int,
    idempotency_key: str,
    booking_id: int | None = None,
    payment_id: int | None = None,
    actor_id: int | None = None,
    memo: str = "",
) -> WalletTransaction:
    """A lesson payment was captured: the tutor's net share goes into pending.

    Provider cash +gross, fee revenue -fee, tutor pending -(gross - fee); the wallet's
    pending and total_earned grow by the net. Statement line type ``earning``.
    """
    return _earn(
        EntryKind.LESSON_EARNING,
        TransactionType.EARNING,
        source=CASH,
        tutor_id=tutor_id,
        gross=gross,
        fee=fee,
        key=idempotency_key,
        booking_id=booking_id,
        payment_id=payment_id,
        actor_id=actor_id,
        memo=memo,
    )


def process_subscription_earning(
    *,
    tutor_id: int,
    gross: int,
    fee: int,
    idempotency_key: str,
    booking_id: int | None = None,
    payment_id: int | None = None,
    actor_id: int | None = None,
    memo: str = "",
) -> WalletTransaction:
    """A subscription-covered lesson was completed: its share of the period's price earns.

    The share was paid for already, with the subscription invoice: it comes out of
    unearned subscription revenue instead of provider cash. Unearned +gross, fee revenue
    -fee, tutor pending -(gross - fee); kind and statement line type
    ``subscription_earning``.
    """
    return _earn(
        EntryKind.SUBSCRIPTION_EARNING,
        TransactionType.SUBSCRIPTION_EARNING,
        source=UNEARNED,
        tutor_id=tutor_id,
        gross=gross,
        fee=fee,
        key=idempotency_key,
        booking_id=booking_id,
        payment_id=payment_id,
        actor_id=actor_id,
        memo=memo,
    )


def _earn(
    kind, line_type, *, source, tutor_id, gross, fee, key, booking_id, payment_id, actor_id, memo
):
    gross = check.amount(gross, "gross")
    fee = check.part(fee, "fee", gross, "gross")
    check.optional_id(booking_id, "booking_id")
    check.optional_id(payment_id, "payment_id")
    ledger.check_key(key)
    require_int(tutor_id, "tutor_id")
    net = gross - fee
    move = Move(
        kind,
        line_type,
        amount=net,
        pending=net,
        earned=net,
        gross=gross,
        fee=fee,
        platform={source: gross, FEES: -fee},
    )
    # An earning reads nothing before it moves: one statement where the database can.
    line = apply_in_one(
        tutor_id,
        move,
        key=key,
        memo=memo,
        actor_id=actor_id,
        payment_id=payment_id,
        booking_id=booking_id,
    )
    if line is not None:
        return line
    wallet, existing, accounts = begin(tutor_id, key, kind, (source, FEES))
    if existing is not None:
        return existing
    return apply(
        wallet,
        move,
        accounts,
        key=key,
        memo=memo,
        actor_id=actor_id,
        payment_id=payment_id,
        booking_id=booking_id,
    )


def remaining_pending():
    """SQL: what is still pending of the earning `LedgerEntry` (for its wallet)."""
    part = so.aliased(LedgerEntry)
    return (
        sa.select(total(LedgerPosting.amount, negate=True))
        .join(part, part.id == LedgerPosting.entry_id)
        .where(
            LedgerPosting.account_id == TutorWallet.pending_account_id,
            sa.or_(part.id == LedgerEntry.id, part.parent_id == LedgerEntry.id),
        )
        .correlate(LedgerEntry, TutorWallet)
        .scalar_subquery()
    )


def _releasable(now: datetime, tutor_id: int | None = None) -> sa.Select:
    """Earnings due for release: (tutor_id, entry id, booking id, remaining pending)."""
    cutoff = now - timedelta(days=current_app.config["EARNINGS_HOLD_DAYS"])
    remaining = remaining_pending().label("remaining")
    released = so.aliased(LedgerEntry)
    query = (
        sa.select(LedgerEntry.tutor_id, LedgerEntry.id, LedgerEntry.booking_id, remaining)
        .join(TutorWallet, TutorWallet.tutor_id == LedgerEntry.tutor_id)
        .outerjoin(Booking, Booking.id == LedgerEntry.booking_id)
        .where(
            LedgerEntry.kind.in_(EARNING_KINDS),
            sa.or_(
                sa.and_(Booking.status == BookingStatus.COMPLETED, Booking.completed_at <= cutoff),
                sa.and_(LedgerEntry.booking_id.is_(None), LedgerEntry.created_at <= cutoff),
            ),
            ~sa.exists().where(
                released.parent_id == LedgerEntry.id,
                released.kind == EntryKind.EARNING_RELEASED.value,
            ),
        )
        .order_by(LedgerEntry.tutor_id, LedgerEntry.id)
    )
    if tutor_id is not None:
        query = query.where(LedgerEntry.tutor_id == tutor_id)
    return query


def release_pending_earnings(now: datetime | None = None) -> int:
    """Move every due earning from pending to available; returns how many were released.

    Due: see the release rule above. Wallets are locked in tutor order (no
    deadlock between two runs), and what remains pending is recomputed under the lock.
    One unit of work for all tutors; the hourly task goes tutor by tutor instead.
    """
    now = now or utcnow()
    return sum(release_earnings_of(tutor_id, now) for tutor_id in tutors_with_due_earnings(now))


def tutors_with_due_earnings(now: datetime) -> list[int]:
    return sorted({row.tutor_id for row in db.session.execute(_releasable(now))})


def release_earnings_of(tutor_id: int, now: datetime) -> int:
    """Release one tutor's due earnings (locking their wallet); how many were released."""
    wallet = lock_wallet(tutor_id)
    due = []
    for row in db.session.execute(_releasable(now, tutor_id)).all():
        if row.remaining <= 0:
            continue
        move = Move(
            EntryKind.EARNING_RELEASED,
            TransactionType.RELEASE,
            amount=row.remaining,
            pending=-row.remaining,
            available=row.remaining,
        )
        fields = {"key": f"earning:{row.id}:released", "booking_id": row.booking_id}
        due.append((move, {**fields, "parent_id": row.id}))
    # PostgreSQL: all of them in one statement, each under its own key, in this order.
    if len(due) > 1 and apply_batch(tutor_id, due) == len(due):
        return len(due)
    for move, fields in due:
        apply(wallet, move, {}, key=fields.pop("key"), **fields)
    return len(due)
