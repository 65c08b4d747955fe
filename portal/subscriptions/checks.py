"""The subscriptions' invariants against the ledger (part of `flask ledger check`).

1. unearned subscription revenue is never negative, and equals what the periods still
   hold (``amount_paid + carried_in - shared - to_revenue - carried_out`` summed);
2. per period, its entries (keys ``subscription_period:<id>:…``) moved exactly what the
   row says: ``amount_paid`` in, ``shared`` to tutors and fees, ``to_revenue`` to
   revenue; what it holds is never negative, and the shares never exceed its funds
   (what was paid plus what it carried in);
3. per subscription, what its periods carried in equals what they carried out (a carry
   moves money between periods, never in or out of the account);
4. a closed period with no lesson still to come holds nothing;
5. a period's lessons used and shared are its covered bookings not cancelled, and those
   completed.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

from portal.bookings.models import Booking, BookingStatus
from portal.extensions import db
from portal.ledger.accounts import platform_account_ids, total
from portal.ledger.checks import MAX_REPORTED, Drift
from portal.ledger.models import EntryKind, LedgerEntry, LedgerPosting
from portal.subscriptions.models import SubscriptionPeriod
from portal.subscriptions.periods import UNEARNED, funds, outstanding, unearned

PREFIX = "subscription_period:"


def subscription_drifts() -> list[Drift]:
    moved = _moved_per_period()
    periods = db.session.scalars(sa.select(SubscriptionPeriod).order_by(SubscriptionPeriod.id))
    drifts = _unearned_total() + _carries()
    counts = _lessons_per_period()
    for period in periods:
        drifts += _period_drifts(period, moved.pop(period.id, {}), counts.get(period.id, (0, 0)))
    drifts += [
        Drift(
            "unearned subscription revenue moved outside a period",
            f"period {pid} does not exist" if pid >= 0 else "entries without a period's key",
        )
        for pid in sorted(moved)
    ]
    return drifts[:MAX_REPORTED]


def _unearned_total() -> list[Drift]:
    account_id = platform_account_ids()[UNEARNED]
    held = -db.session.scalar(
        sa.select(total(LedgerPosting.amount)).where(LedgerPosting.account_id == account_id)
    )
    owed = db.session.scalar(
        sa.select(
            total(
                SubscriptionPeriod.amount_paid
                + SubscriptionPeriod.carried_in
                - SubscriptionPeriod.shared
                - SubscriptionPeriod.to_revenue
                - SubscriptionPeriod.carried_out
            )
        )
    )
    drifts = []
    if held < 0:
        drifts.append(Drift("unearned subscription revenue negative", f"it is {held}"))
    if held != owed:
        drifts.append(
            Drift(
                "unearned subscription revenue differs from its periods",
                f"the account holds {held}, the periods {owed}",
            )
        )
    return drifts


def _carries() -> list[Drift]:
    rows = db.session.execute(
        sa.select(
            SubscriptionPeriod.subscription_id,
            sa.func.sum(SubscriptionPeriod.carried_in),
            sa.func.sum(SubscriptionPeriod.carried_out),
        )
        .group_by(SubscriptionPeriod.subscription_id)
        .having(
            sa.func.sum(SubscriptionPeriod.carried_in)
            != sa.func.sum(SubscriptionPeriod.carried_out)
        )
        .order_by(SubscriptionPeriod.subscription_id)
    )
    return [
        Drift(
            "subscription periods carried money that did not arrive",
            f"subscription {sid}: carried in {carried_in}, carried out {carried_out}",
        )
        for sid, carried_in, carried_out in rows
    ]


def _moved_per_period() -> dict[int, dict[str, int]]:
    """Per period id: what its entries moved on the unearned account, by entry kind
    (credits positive: paid in is positive, shares and revenue out are negative)."""
    account_id = platform_account_ids()[UNEARNED]
    rows = db.session.execute(
        sa.select(LedgerEntry.idempotency_key, LedgerEntry.kind, LedgerPosting.amount)
        .join(LedgerPosting, LedgerPosting.entry_id == LedgerEntry.id)
        .where(LedgerPosting.account_id == account_id)
    )
    moved: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for key, kind, amount in rows:
        period_id = _period_of(key)
        moved[period_id if period_id is not None else -1][kind] -= amount
    return moved


def _period_of(key: str) -> int | None:
    if not key.startswith(PREFIX):
        return None
    number = key[len(PREFIX) :].split(":", 1)[0]
    return int(number) if number.isdigit() else None


def _lessons_per_period() -> dict[int, tuple[int, int]]:
    """Per period id: (covered bookings not cancelled, those completed)."""
    completed = sa.func.sum(sa.case((Booking.status == BookingStatus.COMPLETED, 1), else_=0))
    rows = db.session.execute(
        sa.select(Booking.subscription_period_id, sa.func.count(), completed)
        .where(
            Booking.subscription_period_id.is_not(None),
            Booking.status != BookingStatus.CANCELLED,
        )
        .group_by(Booking.subscription_period_id)
    )
    return {pid: (used, int(done or 0)) for pid, used, done in rows}


def _period_drifts(period, moved: dict[str, int], lessons: tuple[int, int]) -> list[Drift]:
    name = f"period {period.id} (subscription {period.subscription_id})"
    found = {
        "paid in": moved.get(EntryKind.SUBSCRIPTION_PAID, 0),
        "shared": -moved.get(EntryKind.SUBSCRIPTION_EARNING, 0),
        "to revenue": -moved.get(EntryKind.SUBSCRIPTION_UNUSED, 0),
    }
    expected = {"paid in": period.amount_paid, "shared": period.shared}
    expected["to revenue"] = period.to_revenue
    drifts = [
        Drift(
            "subscription period differs from its entries",
            f"{name}: {what} is {value}, its entries say {found[what]}",
        )  # fmt: skip
        for what, value in expected.items()
        if found[what] != value
    ]
    held = sum(moved.values()) + period.carried_in - period.carried_out
    if held < 0 or unearned(period) < 0:
        drifts.append(Drift("subscription period holds a negative amount", f"{name}: {held}"))
    if period.shared > funds(period):
        drifts.append(
            Drift("subscription shares exceed the price", f"{name}: {period.shared} shared")
        )
    if period.closed_at is not None and outstanding(period) == 0 and unearned(period) != 0:
        drifts.append(
            Drift("closed subscription period still holds money", f"{name}: {unearned(period)}")
        )
    if (period.lessons_used, period.lessons_shared) != lessons:
        drifts.append(
            Drift(
                "subscription period differs from its lessons",
                f"{name}: used {period.lessons_used}, shared {period.lessons_shared}; "
                f"bookings say {lessons[0]}, completed {lessons[1]}",
            )
        )
    return drifts
