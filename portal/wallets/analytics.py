"""Earnings analytics: a tutor's earnings per day, week or month over a range of dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from portal.db import utcnow
from portal.errors import ValidationError
from portal.extensions import db
from portal.wallets.models import WalletMonth, WalletTransaction
from portal.wallets.months import MONTHLY_TYPES, bucket_sql, figures_sql
from portal.wallets.movement import get_wallet

PERIODS = ("day", "week", "month")
MAX_BUCKETS = 400


@dataclass
class Bucket:
    start: date
    earned: int = 0
    fees: int = 0
    lessons: int = 0
    refunds: int = 0

    @property
    def net(self) -> int:
        return self.earned - self.refunds


def period_start(day: date, period: str) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_start(start: date, period: str) -> date:
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def get_earnings_analytics(
    tutor_id: int, period: str, date_from: date, date_to: date, *, wallet_id: int | None = None
) -> list[Bucket]:
    """Earnings per day / week / month between two dates (inclusive), summed in SQL.

    Every bucket in the range is present, zeros included. ``earned`` is the tutors' net
    earnings (after the platform fee), ``fees`` the fee kept on them, ``lessons`` how many
    lessons earned, ``refunds`` the tutor's share given back. `wallet_id`: the tutor's
    wallet, when the caller has read it already.
    """
    if period not in PERIODS:
        raise ValidationError(
            "period must be day, week or month.", fields={"period": ["Choose day, week or month."]}
        )
    if not isinstance(date_from, date) or not isinstance(date_to, date):
        raise TypeError("date_from and date_to must be dates")
    if date_from > date_to:
        raise ValidationError(
            "The start date is after the end date.",
            fields={"from": ["Must not be after the end date."]},
        )
    starts = _bucket_starts(period, date_from, date_to)
    buckets = {start: Bucket(start) for start in starts}
    if wallet_id is None:
        wallet = get_wallet(tutor_id)
        if wallet is None:
            return list(buckets.values())
        wallet_id = wallet.id
    for row in db.session.execute(_analytics_query(wallet_id, period, date_from, date_to)):
        start = row.bucket if isinstance(row.bucket, date) else date.fromisoformat(row.bucket)
        bucket = buckets.setdefault(start, Bucket(start))
        bucket.earned, bucket.fees = int(row.earned or 0), int(row.fees or 0)
        bucket.lessons, bucket.refunds = int(row.lessons or 0), int(row.refunds or 0)
    return [buckets[key] for key in sorted(buckets)]


def _bucket_starts(period: str, date_from: date, date_to: date) -> list[date]:
    starts, start = [], period_start(date_from, period)
    while start <= date_to:
        starts.append(start)
        if len(starts) > MAX_BUCKETS:
            raise ValidationError(
                f"That range has more than {MAX_BUCKETS} {period}s; choose a shorter one "
                "or a longer period.",
                fields={"to": ["Range too long for this period."]},
            )
        start = _next_start(start, period)
    return starts


def _analytics_query(wallet_id: int, period: str, date_from: date, date_to: date):
    if period == "month" and _whole_months(date_from, date_to):
        # Whole calendar months: the monthly totals kept with each movement, ≤ 1 row each.
        m = WalletMonth
        return sa.select(m.month.label("bucket"), m.earned, m.fees, m.lessons, m.refunds).where(
            m.wallet_id == wallet_id, m.month >= date_from, m.month <= date_to
        )
    t = WalletTransaction
    bucket = bucket_sql(period).label("bucket")
    return (
        sa.select(bucket, *figures_sql())
        .where(
            t.wallet_id == wallet_id,
            t.created_at >= day_start(date_from),
            t.created_at < day_start(date_to + timedelta(days=1)),
            t.type.in_(MONTHLY_TYPES),
        )
        .group_by(bucket)
    )


def _whole_months(date_from: date, date_to: date) -> bool:
    """From the 1st of a month to the end of a month (or to today: no later lines exist)."""
    return date_from.day == 1 and (
        (date_to + timedelta(days=1)).day == 1 or date_to >= utcnow().date()
    )


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def last_months(count: int, today: date | None = None) -> tuple[date, date]:
    """The first and last day of the `count` calendar months ending with this one."""
    today = today or utcnow().date()
    start = today.replace(day=1)
    for _ in range(count - 1):
        start = (start - timedelta(days=1)).replace(day=1)
    return start, today
