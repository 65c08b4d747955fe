"""The admin overview: money at a glance for a chosen period, and one search box.

Figures for the period (collected volume, fees, refunds, by the day a payment succeeded or
a refund was made) come from the payments' own report; payouts due and in flight, and
failed webhooks, are the state now. The search finds a payment, payout, invoice or user by
id, provider id, e-mail, amount or card's last four digits.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from portal.accounts.models import User
from portal.db import utcnow
from portal.extensions import db
from portal.invoices.models import Invoice
from portal.money import AmountError, parse_amount
from portal.payments.models import COLLECTED_STATUSES, Payment
from portal.payments.reports import PlatformTotals, platform_totals
from portal.payouts.models import PayoutRequest, PayoutStatus
from portal.webhooks.models import EventStatus, WebhookEvent

# period -> (days back, bucket of the chart); "12m" is this month and the eleven before
PERIODS = {"7d": (7, "day"), "30d": (30, "day"), "12m": (365, "month")}
PERIOD_LABELS = {"7d": "Last 7 days", "30d": "Last 30 days", "12m": "Last 12 months"}
SEARCH_LIMIT = 10


@dataclass(frozen=True)
class Overview:
    period: str
    start: date
    end: date
    totals: PlatformTotals
    due: tuple[int, int]  # payouts pending or approved: how many, how much
    in_flight: tuple[int, int]  # payouts processing
    failed_webhooks: int
    points: list[tuple[str, int]]  # the chart: (label, net volume) per bucket


def overview(period: str, today: date | None = None) -> Overview:
    """The figures for `period` (a key of PERIODS), ending today (UTC)."""
    days, bucket = PERIODS[period]
    end = today or utcnow().date()
    start = end - timedelta(days=days - 1)
    if bucket == "month":  # whole months: this one and the eleven before it
        months_back = end.year * 12 + end.month - 1 - 11
        start = date(months_back // 12, months_back % 12 + 1, 1)
    low, high = _day_start(start), _day_start(end + timedelta(days=1))
    return Overview(
        period=period,
        start=start,
        end=end,
        totals=platform_totals(low, high),
        due=_payouts((PayoutStatus.PENDING, PayoutStatus.APPROVED)),
        in_flight=_payouts((PayoutStatus.PROCESSING,)),
        failed_webhooks=db.session.scalar(
            sa.select(sa.func.count())
            .select_from(WebhookEvent)
            .where(WebhookEvent.status == EventStatus.FAILED)
        ),
        points=_volume_points(start, end, low, high, bucket),
    )


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _payouts(statuses) -> tuple[int, int]:
    count, total = db.session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(PayoutRequest.amount), 0)).where(
            PayoutRequest.status.in_(statuses)
        )
    ).one()
    return count, int(total)


def _volume_points(start: date, end: date, low, high, bucket: str) -> list[tuple[str, int]]:
    """Collected volume per day (or month), every bucket present, zero when quiet."""
    day = sa.func.date(Payment.succeeded_at)
    rows = db.session.execute(
        sa.select(day, sa.func.sum(Payment.amount))
        .where(
            Payment.status.in_(COLLECTED_STATUSES),
            Payment.succeeded_at >= low,
            Payment.succeeded_at < high,
        )
        .group_by(day)
    ).all()
    by_day = {_as_date(d): int(total) for d, total in rows}
    if bucket == "month":
        months: dict[date, int] = {}
        cursor = start.replace(day=1)
        while cursor <= end:
            months[cursor] = 0
            cursor = (cursor + timedelta(days=32)).replace(day=1)
        for d, total in by_day.items():
            months[d.replace(day=1)] = months.get(d.replace(day=1), 0) + total
        return [(m.strftime("%b"), total) for m, total in months.items()]
    count = (end - start).days + 1
    return [
        ((start + timedelta(days=i)).strftime("%d") if count <= 7 or i % 5 == 0 else "",
         by_day.get(start + timedelta(days=i), 0))
        for i in range(count)
    ]  # fmt: skip


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


# --- search ---------------------------------------------------------------------------


def search(text: str) -> list[tuple[str, object]]:
    """(kind, row) of the payments, payouts, invoices and users matching `text`: an id or
    uuid, a provider id (pi_…, tr_…, in_…), an invoice number, an e-mail, an amount ("45"
    or "45.00") or a card's last four digits."""
    text = text.strip()
    if not text:
        return []
    payments, payouts, invoices, users = [], [], [], []
    as_uuid = _uuid(text)
    if as_uuid:
        payments.append(Payment.uuid == as_uuid)
        payouts.append(PayoutRequest.uuid == as_uuid)
        invoices.append(Invoice.uuid == as_uuid)
    payments.append(Payment.provider_payment_id == text)
    payouts.append(PayoutRequest.provider_transfer_id == text)
    invoices += [Invoice.number == text.upper(), Invoice.provider_invoice_id == text]
    if "@" in text:
        users.append(User.email == text.lower())
        payments.append(Payment.payer_id.in_(sa.select(User.id).where(User.email == text.lower())))
    if text.isdigit() and len(text) < 10:
        users.append(User.id == int(text))
        if len(text) == 4:
            payments.append(Payment.card_last4 == text)
    amount = _amount(text)
    if amount is not None:
        payments.append(Payment.amount == amount)
        payouts.append(PayoutRequest.amount == amount)
        invoices.append(Invoice.total == amount)
    return (
        _rows("payment", Payment, payments, Payment.created_at)
        + _rows("payout", PayoutRequest, payouts, PayoutRequest.created_at)
        + _rows("invoice", Invoice, invoices, Invoice.created_at)
        + _rows("user", User, users, User.id)
    )


def _rows(kind: str, model, conditions, order) -> list[tuple[str, object]]:
    if not conditions:
        return []
    query = sa.select(model).where(sa.or_(*conditions)).order_by(order.desc()).limit(SEARCH_LIMIT)
    return [(kind, row) for row in db.session.scalars(query)]


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


_AMOUNT = re.compile(r"^\$?\d{1,9}(\.\d{1,2})?$")


def _amount(text: str) -> int | None:
    if not _AMOUNT.match(text):
        return None
    try:
        return parse_amount(text.lstrip("$"))
    except AmountError:
        return None
