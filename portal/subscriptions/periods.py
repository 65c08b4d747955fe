"""Billing periods: each paid subscription invoice opens one, and its money waits in
unearned subscription revenue until lessons are given or the period ends.

The money of a period, in the ledger (debits positive; U = unearned subscription
revenue, a liability; R = subscription revenue):

=====================  =====================================================  ==========
paid                   provider cash +amount_paid, U -amount_paid             open
a lesson's share       U +share, fee revenue -fee, tutor pending -net         completion
unused                 U +rest, R -rest                                       close
=====================  =====================================================  ==========

A period's funds are what was paid for it plus what it carried in (below). A lesson's
share is ``round_half_up(funds / lessons_allowed)``; the last lesson of a period takes
what remains, so a period's shares never exceed its funds (`lesson_share`). When a
period closes, its rest becomes revenue, except the shares of lessons booked from it
that have not happened yet: those stay unearned until the lesson completes (the tutor
earns it) or is cancelled (it becomes revenue then).

**A period replaced before its end** (a plan changed now: Stripe bills the prorated
difference and a period opens for the new plan from today) does not turn its rest into
revenue: it hands it to the new period (`carried_out` there, `carried_in` here), so the
lessons given under the new plan share what the student paid for both, and tutors'
shares plus the platform's revenue add up to exactly what the student paid. The money
stays in unearned subscription revenue, so the carry posts nothing; the books check that
every subscription's carries in and out match. A period's unearned money is
``amount_paid + carried_in - shared - to_revenue - carried_out`` and is never negative.

Functions here add and flush; the caller owns the unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from portal.db import utcnow
from portal.extensions import db
from portal.invoices.models import Invoice
from portal.ledger import bulk
from portal.ledger import posting as ledger
from portal.ledger.accounts import platform_account_ids
from portal.ledger.models import EntryKind, LedgerAccount, PlatformAccount
from portal.money import require_int, round_half_up
from portal.subscriptions.models import Subscription, SubscriptionPeriod

CASH = PlatformAccount.PROVIDER_CASH
UNEARNED = PlatformAccount.SUBSCRIPTIONS_UNEARNED
REVENUE = PlatformAccount.SUBSCRIPTION_REVENUE


def period_key(period_id: int, what: str) -> str:
    """Idempotency keys of a period's entries all start alike, so the books can be read
    per period: ``subscription_period:<id>:paid``, ``…:closed``, ``…:booking:<id>:share``."""
    return f"subscription_period:{period_id}:{what}"


def open_period(subscription: Subscription, **opening) -> SubscriptionPeriod:
    """A paid (or trial) invoice starts a period: `open_or_find_period`'s period."""
    return open_or_find_period(subscription, **opening)[0]


def open_or_find_period(
    subscription: Subscription,
    *,
    starts_at: datetime,
    ends_at: datetime,
    amount_paid: int,
    currency: str,
    provider_invoice_id: str | None = None,
    lock: RenewalLock | None = None,
) -> tuple[SubscriptionPeriod, bool]:
    """A paid (or trial) invoice starts a period: quota from the plan, usage reset. The
    period, and whether it was opened now.

    Idempotent per `provider_invoice_id`: a second call returns the period opened the
    first time and posts nothing. Closes the subscription's open periods that started
    before this one (their rest becomes revenue, or this period's if this one replaces
    them before their end); a late invoice for an older period opens it closed. Posts
    `amount_paid` from provider cash to unearned subscription revenue (nothing for a
    0-amount trial period).

    Renewal day runs this for every subscription, so it reads each thing once: the
    subscription's lock brings the invoice's period (if any) and the ledger accounts
    along (`lock_for_renewal`; a caller that took it already passes it as `lock`), and
    one more locked read brings the open periods. That read also looks for the invoice's
    period once more: a statement that waited for the subscription's lock sees the rows
    as they were when it started, so a period another run opened for the same invoice
    while this one waited (`invoice.paid` and `invoice.payment_succeeded` together) is
    found only by a statement that starts after the wait.
    """
    require_int(amount_paid, "amount_paid")
    if amount_paid < 0:
        raise ValueError("amount_paid must not be negative")
    if ends_at <= starts_at:
        raise ValueError("a period must end after it starts")
    if lock is None:
        lock = lock_for_renewal(Subscription.id == subscription.id, provider_invoice_id)
    subscription, accounts = lock.subscription, lock.accounts
    if lock.period_id is not None:
        return db.session.get(SubscriptionPeriod, lock.period_id), False
    found = _open_periods_or_the_invoices(subscription.id, provider_invoice_id)
    mine = [
        p for p in found if provider_invoice_id and p.provider_invoice_id == provider_invoice_id
    ]
    if mine:
        return mine[0], False
    open_ones = found
    period = new_period(
        subscription, starts_at, ends_at, provider_invoice_id, amount_paid, currency
    )
    db.session.add(period)
    db.session.flush()
    if amount_paid:
        ledger.post(
            idempotency_key=period_key(period.id, "paid"),
            kind=EntryKind.SUBSCRIPTION_PAID,
            postings=[(accounts[CASH], amount_paid), (accounts[UNEARNED], -amount_paid)],
            memo=f"Subscription {subscription.id} paid {starts_at:%Y-%m-%d}",
        )
    now = utcnow()
    if any(older.starts_at > starts_at for older in open_ones):
        _close_locked(period, accounts, now)  # a late invoice for a period already past
        return period, True
    for older in open_ones:
        if older.ends_at > starts_at:
            _carry_locked(older, period, now)
        else:
            _close_locked(older, accounts, now)
    subscription.current_period_start = starts_at
    subscription.current_period_end = ends_at
    subscription.lessons_used = 0
    db.session.flush()
    return period, True


def new_period(
    subscription: Subscription,
    starts_at: datetime,
    ends_at: datetime,
    provider_invoice_id: str | None,
    amount_paid: int,
    currency: str,
) -> SubscriptionPeriod:
    """A period as it opens: the plan's quota, nothing used, shared or carried yet."""
    return SubscriptionPeriod(
        subscription_id=subscription.id,
        starts_at=starts_at,
        ends_at=ends_at,
        provider_invoice_id=provider_invoice_id,
        amount_paid=amount_paid,
        currency=currency,
        lessons_allowed=subscription.plan.lessons_per_month,
        lessons_used=0,
        lessons_shared=0,
        shared=0,
        to_revenue=0,
        carried_in=0,
        carried_out=0,
    )


def _open_periods_or_the_invoices(subscription_id: int, provider_invoice_id: str | None):
    """The subscription's open periods and the one `provider_invoice_id` opened, locked."""
    which = SubscriptionPeriod.closed_at.is_(None)
    if provider_invoice_id is not None:
        which = which | (SubscriptionPeriod.provider_invoice_id == provider_invoice_id)
    return db.session.scalars(
        sa.select(SubscriptionPeriod)
        .where(SubscriptionPeriod.subscription_id == subscription_id, which)
        .order_by(SubscriptionPeriod.starts_at)
        .with_for_update()
    ).all()


_ACCOUNT_CODES = (CASH, UNEARNED, REVENUE)


def account_columns() -> list:
    return [
        sa.select(LedgerAccount.id).where(LedgerAccount.code == code).scalar_subquery()
        for code in _ACCOUNT_CODES
    ]


def accounts_of(values) -> dict[str, int]:
    accounts = dict(zip(_ACCOUNT_CODES, values, strict=True))
    if any(value is None for value in accounts.values()):  # the first posting ever
        opened = platform_account_ids()
        accounts = {code: opened[code] for code in _ACCOUNT_CODES}
    return accounts


@dataclass(frozen=True)
class RenewalLock:
    """A subscription locked for a Stripe invoice, with what the renewal needs to know."""

    subscription: Subscription
    period_id: int | None  # the period the Stripe invoice opened already, if any
    invoice_id: int | None  # the portal invoice written for it already, if any
    accounts: dict[str, int]


def lock_for_renewal(where, provider_invoice_id: str | None) -> RenewalLock | None:
    """The subscription `where` picks, locked, and what the Stripe invoice
    `provider_invoice_id` has made here already, and the ledger accounts: one round trip.
    None when no subscription matches."""
    period = invoice = sa.null()  # without a Stripe invoice, nothing was made for it
    if provider_invoice_id is not None:
        period = (
            sa.select(SubscriptionPeriod.id)
            .where(SubscriptionPeriod.provider_invoice_id == provider_invoice_id)
            .scalar_subquery()
        )
        invoice = (
            sa.select(Invoice.id)
            .where(Invoice.provider_invoice_id == provider_invoice_id)
            .scalar_subquery()
        )
    row = db.session.execute(
        sa.select(Subscription, period, invoice, *account_columns())
        .where(where)
        .with_for_update(of=Subscription)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if row is None:
        return None
    return RenewalLock(row[0], row[1], row[2], accounts_of(row[3:]))


def lock_subscription(subscription_id: int) -> Subscription:
    """Lock the subscription row: its quota, periods and renewals change one at a time."""
    return db.session.scalar(
        sa.select(Subscription)
        .where(Subscription.id == subscription_id)
        .with_for_update(of=Subscription)
        .execution_options(populate_existing=True)
    )


def lock_period(period_id: int) -> SubscriptionPeriod:
    return db.session.scalar(
        sa.select(SubscriptionPeriod)
        .where(SubscriptionPeriod.id == period_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _lock_period_with_accounts(period_id: int) -> tuple[SubscriptionPeriod, dict[str, int]]:
    row = db.session.execute(
        sa.select(SubscriptionPeriod, *account_columns())
        .where(SubscriptionPeriod.id == period_id)
        .with_for_update(of=SubscriptionPeriod)
        .execution_options(populate_existing=True)
    ).one()
    return row[0], accounts_of(row[1:])


def current_period(subscription: Subscription) -> SubscriptionPeriod | None:
    """The subscription's open period (the newest, if a renewal has not closed the last)."""
    return db.session.scalar(
        sa.select(SubscriptionPeriod)
        .where(
            SubscriptionPeriod.subscription_id == subscription.id,
            SubscriptionPeriod.closed_at.is_(None),
        )
        .order_by(SubscriptionPeriod.starts_at.desc())
        .limit(1)
    )


def close_period(period: SubscriptionPeriod, *, now: datetime | None = None) -> None:
    """End a period: its rest becomes platform revenue, `closed_at` is set. Idempotent.

    The shares of lessons booked from it and not yet given stay unearned (see the module
    docstring).
    """
    period, accounts = _lock_period_with_accounts(period.id)
    _close_locked(period, accounts, now or utcnow())
    db.session.flush()


def _close_locked(period: SubscriptionPeriod, accounts: dict[str, int], now: datetime) -> None:
    if period.closed_at is not None:
        return
    rest = unearned(period) - reserved(period, outstanding(period))
    _to_revenue(period, rest, period_key(period.id, "closed"), accounts)
    period.closed_at = now


def _carry_locked(older: SubscriptionPeriod, newer: SubscriptionPeriod, now: datetime) -> None:
    """`newer` replaces `older` before its end: what `older` holds beyond the shares of
    its lessons still to come becomes `newer`'s."""
    rest = unearned(older) - reserved(older, outstanding(older))
    if rest > 0:
        older.carried_out += rest
        newer.carried_in += rest
    older.closed_at = now


def close_current_period(subscription: Subscription, *, now: datetime | None = None) -> None:
    """The subscription ended: close what is open of it."""
    period = current_period(subscription)
    if period is not None:
        close_period(period, now=now)


# --- the arithmetic of shares -----------------------------------------------------------


def funds(period: SubscriptionPeriod) -> int:
    """What the period's lessons share: its price and what it carried in."""
    return period.amount_paid + period.carried_in


def unearned(period: SubscriptionPeriod) -> int:
    """What of the period's funds is still unearned subscription revenue."""
    return funds(period) - period.shared - period.to_revenue - period.carried_out


def outstanding(period: SubscriptionPeriod) -> int:
    """Lessons booked from the period that have neither happened nor been cancelled."""
    return period.lessons_used - period.lessons_shared


def lesson_share(period: SubscriptionPeriod, lessons_shared: int, shared: int) -> int:
    """The share of the next lesson given, after `lessons_shared` lessons took `shared`.

    ``round_half_up(funds / lessons_allowed)``; the last lesson of the period takes what
    remains, and no lesson takes more than remains.
    """
    remaining = funds(period) - shared
    if lessons_shared + 1 >= period.lessons_allowed:
        return remaining
    return min(round_half_up(Decimal(funds(period)) / period.lessons_allowed), remaining)


def reserved(period: SubscriptionPeriod, lessons: int) -> int:
    """What the next `lessons` shares of the period will take."""
    count, shared = period.lessons_shared, period.shared
    for _ in range(lessons):
        shared += lesson_share(period, count, shared)
        count += 1
    return shared - period.shared


def release_unreserved(period: SubscriptionPeriod, key: str) -> None:
    """A closed period keeps only what its outstanding lessons will take; the rest
    becomes revenue now (a lesson of it was cancelled, or given)."""
    if period.closed_at is None:
        return
    _to_revenue(period, unearned(period) - reserved(period, outstanding(period)), key)


def _to_revenue(
    period: SubscriptionPeriod, amount: int, key: str, accounts: dict[str, int] | None = None
) -> None:
    if amount <= 0:
        return
    entry = unused_entry(period, amount, accounts or platform_account_ids(), key=key)
    ledger.post(
        idempotency_key=entry.idempotency_key,
        kind=entry.kind,
        postings=entry.postings,
        memo=entry.memo,
    )
    period.to_revenue += amount


def unused_entry(
    period: SubscriptionPeriod, amount: int, accounts: dict[str, int], *, key: str | None = None
) -> bulk.NewEntry:
    """The entry moving `amount` of the period's unused money to revenue (by default
    under the key of its closing)."""
    return bulk.NewEntry(
        idempotency_key=key or period_key(period.id, "closed"),
        kind=EntryKind.SUBSCRIPTION_UNUSED,
        postings=[(accounts[UNEARNED], amount), (accounts[REVENUE], -amount)],
        memo=f"Subscription period {period.id}: unused",
    )
