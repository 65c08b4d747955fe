"""The lesson quota: a covered booking takes one lesson of the subscription's open period.

**Rules.** Only a ``trialing`` or ``active`` subscription covers lessons (past due,
incomplete, cancelled and expired do not: 409 ``no_active_subscription``). A period
gives ``lessons_allowed`` lessons (the plan's ``lessons_per_month`` when it opened) and
never more, also under concurrency: taking a lesson locks the subscription row, then the
period row, and counts under those locks (409 ``quota_exhausted`` when none is left).
Cancelling a covered lesson gives it back to the period it came from, also when a
renewal has opened a newer one since (that lesson's money stays with its own period).

`SubscriptionCover` is what bookings calls for a covered lesson (`portal.bookings.covers`):
the app factory installs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from portal.accounts.models import User
from portal.bookings.models import Booking
from portal.errors import Conflict
from portal.extensions import db
from portal.subscriptions import money
from portal.subscriptions.models import (
    BOOKABLE_STATUSES,
    LIVE_STATUSES,
    Subscription,
    SubscriptionPeriod,
)
from portal.subscriptions.periods import (
    current_period,
    lock_period,
    lock_subscription,
    period_key,
    release_unreserved,
)


@dataclass(frozen=True)
class Quota:
    lessons_per_month: int
    lessons_used: int
    lessons_remaining: int
    period_start: datetime | None
    period_end: datetime | None
    can_book: bool
    subscription: Subscription | None


def live_subscription(student: User) -> Subscription | None:
    """The student's live subscription (there is at most one)."""
    return live_subscription_of(student.id)


def live_subscription_of(student_id: int) -> Subscription | None:
    return db.session.scalar(
        sa.select(Subscription).where(
            Subscription.student_id == student_id, Subscription.status.in_(LIVE_STATUSES)
        )
    )


def check_lesson_quota(student: User) -> Quota:
    """How many covered lessons the student has left in the current period."""
    subscription = live_subscription(student)
    period = current_period(subscription) if subscription is not None else None
    if period is None:
        return Quota(0, 0, 0, None, None, False, subscription)
    remaining = max(period.lessons_allowed - period.lessons_used, 0)
    return Quota(
        lessons_per_month=period.lessons_allowed,
        lessons_used=period.lessons_used,
        lessons_remaining=remaining,
        period_start=period.starts_at,
        period_end=period.ends_at,
        can_book=subscription.status in BOOKABLE_STATUSES and remaining > 0,
        subscription=subscription,
    )


def increment_lesson_usage(subscription: Subscription) -> SubscriptionPeriod:
    """Take one lesson of the subscription's open period; return the period.

    Locks the subscription row, then the period row; refuses a subscription that does
    not cover lessons (``no_active_subscription``) and a used-up period
    (``quota_exhausted``).
    """
    subscription = lock_subscription(subscription.id)
    if subscription is None or subscription.status not in BOOKABLE_STATUSES:
        raise _no_subscription()
    period = current_period(subscription)
    if period is None:
        raise _no_subscription()
    period = lock_period(period.id)
    if period.lessons_used >= period.lessons_allowed:
        raise Conflict(
            f"All {period.lessons_allowed} lessons of this period are booked. Book this "
            f"lesson with a card, or wait for your subscription to renew on "
            f"{period.ends_at:%d %b %Y}.",
            code="quota_exhausted",
        )
    period.lessons_used += 1
    subscription.lessons_used = period.lessons_used
    db.session.flush()
    return period


def give_back_lesson(booking: Booking) -> None:
    """A covered lesson was cancelled: its lesson goes back to the period it came from.

    If that period has closed meanwhile, the lesson's share can no longer be given: it
    becomes platform revenue now.
    """
    if booking.subscription_period_id is None:
        return
    subscription = lock_subscription(booking.subscription_id)
    period = lock_period(booking.subscription_period_id)
    period.lessons_used -= 1
    # The subscription's count mirrors its open period, the one lessons are taken from.
    # Not found by date: after a plan change mid-period Stripe keeps the cycle's start
    # as the subscription's, while the period the change opened starts later.
    current = current_period(subscription)
    if current is not None and current.id == period.id:
        subscription.lessons_used = period.lessons_used
    release_unreserved(period, period_key(period.id, f"booking:{booking.id}:unused"))
    db.session.flush()


def _no_subscription() -> Conflict:
    return Conflict(
        "You have no active subscription to cover this lesson. Book it with a card instead.",
        code="no_active_subscription",
    )


class SubscriptionCover:
    """The subscriptions' side of a covered lesson, for `portal.bookings.covers`."""

    def take(self, booking: Booking) -> None:
        subscription = live_subscription_of(booking.student_id)
        if subscription is None:
            raise _no_subscription()
        period = increment_lesson_usage(subscription)
        booking.subscription_id = subscription.id
        booking.subscription_period_id = period.id

    def give_back(self, booking: Booking) -> None:
        give_back_lesson(booking)

    def completed(self, booking: Booking) -> None:
        money.share_completed_lesson(booking)

    def lessons_left(self, student: User) -> int | None:
        quota = check_lesson_quota(student)
        subscription = quota.subscription
        if subscription is None or subscription.status not in BOOKABLE_STATUSES:
            return None
        return quota.lessons_remaining if quota.period_end is not None else None
