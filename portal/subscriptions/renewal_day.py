"""Renewal day: many paid Stripe invoices applied together, a statement per step.

On the day a billing cycle turns, Stripe reports a paid invoice for every subscription
at once. The webhook task hands a batch of them here (`renew_many`), and the plain
renewals among them are applied set by set: the subscriptions locked in one statement
(in id order, so two batches never wait on each other in a circle), their open periods
and the invoices' periods in one more, the new periods in one insert, every ledger
entry (each period's payment, each closed period's unused rest) in one statement under
its own idempotency key, the student's paid invoices in one insert (numbered at the
commit, their receipts queued as one task), the closed periods and the subscriptions
updated by one flush.

What a renewal does is `billing.renew_subscription`'s, step for step, with the same
keys, locks and arithmetic (`periods`); only the number of round trips differs. A plain
renewal is one whose outcome needs nothing but its own rows: a complete, paid invoice
with money on it (a trial's 0 invoice bills nothing), of an active or trialing
subscription of ours with no plan change waiting, the first invoice of that
subscription in the batch, whose period is not open yet and starts when or after every
open period of the subscription ends (no carry of a plan change, no late invoice of a
past period). Everything else, and an invoice that is not plain, is left to
`renew_subscription`, one by one, after this.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from portal.after_commit import enqueue_after_commit
from portal.db import utcnow
from portal.extensions import db
from portal.invoices.models import Invoice
from portal.invoices.services import create_subscription_invoices
from portal.invoices.tasks import send_payment_receipts
from portal.ledger import bulk
from portal.ledger.models import EntryKind
from portal.subscriptions import periods
from portal.subscriptions.billing import (
    invoice_of,
    is_complete_invoice,
    period_of,
    subscription_id_of_invoice,
)
from portal.subscriptions.models import Subscription, SubscriptionPeriod, SubscriptionStatus

LIVE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)


@dataclass
class _Renewal:
    invoice: dict
    subscription: Subscription
    starts_at: datetime
    ends_at: datetime
    closing: list[SubscriptionPeriod]
    period: SubscriptionPeriod | None = None
    portal_invoice: Invoice | None = None


def renew_many(invoices: list[dict | None]) -> list[str | None]:
    """Apply the plain renewals among `invoices` (Stripe invoice objects as delivered;
    None for one that is not even that); flush, never commit. For each invoice, the
    sentence for the admin's event log, or None when it was left alone (see the module).
    """
    candidates = {
        n: invoice
        for n, invoice in enumerate(invoices)
        if invoice is not None
        and is_complete_invoice(invoice)
        and invoice.get("status") == "paid"
        and isinstance(invoice.get("amount_paid"), int)
        and invoice["amount_paid"] > 0
        and subscription_id_of_invoice(invoice) is not None
    }
    if not candidates:
        return [None] * len(invoices)
    locked = _lock_subscriptions({subscription_id_of_invoice(i) for i in candidates.values()})
    if not locked:
        return [None] * len(invoices)
    subscriptions, accounts = locked
    open_or_paid = _open_periods_or_the_invoices(
        [s.id for s in subscriptions.values()], [i["id"] for i in candidates.values()]
    )
    renewals: dict[int, _Renewal] = {}
    seen: set[int] = set()
    for n, invoice in candidates.items():
        subscription = subscriptions.get(subscription_id_of_invoice(invoice))
        if subscription is None or subscription.id in seen:
            continue
        seen.add(subscription.id)
        renewal = _plain(invoice, subscription, open_or_paid.get(subscription.id, []))
        if renewal is not None:
            renewals[n] = renewal
    if not renewals:
        return [None] * len(invoices)
    _open_periods(renewals.values(), accounts)
    _write_invoices(renewals.values())
    results: list[str | None] = [None] * len(invoices)
    for n, renewal in renewals.items():
        results[n] = (
            f"Subscription {renewal.subscription.id} ({renewal.subscription.status}): period "
            f"{renewal.starts_at:%Y-%m-%d} to {renewal.ends_at:%Y-%m-%d}, "
            f"invoice #{renewal.portal_invoice.id}."
        )
    return results


def _lock_subscriptions(stripe_ids: set[str]):
    """The subscriptions with these Stripe ids, locked in id order, keyed by Stripe id,
    and the ledger accounts: one round trip. None when there are none."""
    rows = db.session.execute(
        sa.select(Subscription, *periods.account_columns())
        .where(Subscription.provider_subscription_id.in_(sorted(stripe_ids)))
        .order_by(Subscription.id)
        .with_for_update(of=Subscription)
        .execution_options(populate_existing=True)
    ).all()
    if not rows:
        return None
    subscriptions = {row[0].provider_subscription_id: row[0] for row in rows}
    return subscriptions, periods.accounts_of(rows[0][1:])


def _open_periods_or_the_invoices(
    subscription_ids: list[int], provider_invoice_ids: list[str]
) -> dict[int, list[SubscriptionPeriod]]:
    """Each subscription's open periods and those the invoices opened already, locked.

    A statement that starts after the subscriptions' lock, so it sees a period another
    run opened for one of the invoices while this one waited (see
    `periods.open_or_find_period`)."""
    found: dict[int, list[SubscriptionPeriod]] = {}
    for period in db.session.scalars(
        sa.select(SubscriptionPeriod)
        .where(
            SubscriptionPeriod.subscription_id.in_(subscription_ids),
            SubscriptionPeriod.closed_at.is_(None)
            | SubscriptionPeriod.provider_invoice_id.in_(provider_invoice_ids),
        )
        .order_by(SubscriptionPeriod.subscription_id, SubscriptionPeriod.starts_at)
        .with_for_update()
        .execution_options(populate_existing=True)
    ):
        found.setdefault(period.subscription_id, []).append(period)
    return found


def _plain(invoice: dict, subscription: Subscription, known: list) -> _Renewal | None:
    """The renewal, if the invoice is a plain one (see the module)."""
    if subscription.status not in LIVE or subscription.next_plan_id is not None:
        return None
    if any(period.provider_invoice_id == invoice["id"] for period in known):
        return None  # seen before: the one-by-one path answers it
    starts_at, ends_at = period_of(invoice, subscription)
    open_ones = [period for period in known if period.closed_at is None]
    if any(period.ends_at > starts_at for period in open_ones):
        return None  # a carry (a plan changed now), or a late invoice of a past period
    return _Renewal(invoice, subscription, starts_at, ends_at, open_ones)


def _open_periods(renewals, accounts: dict[str, int]) -> None:
    """`periods.open_or_find_period` for each renewal: the new periods in one insert, the
    money paid and the closed periods' rest in one ledger statement."""
    for renewal in renewals:
        renewal.period = periods.new_period(
            renewal.subscription,
            renewal.starts_at,
            renewal.ends_at,
            renewal.invoice["id"],
            renewal.invoice["amount_paid"],
            renewal.invoice["currency"],
        )
        db.session.add(renewal.period)
    db.session.flush()
    now = utcnow()
    entries = []
    for renewal in renewals:
        paid = renewal.invoice["amount_paid"]
        entries.append(
            bulk.NewEntry(
                idempotency_key=periods.period_key(renewal.period.id, "paid"),
                kind=EntryKind.SUBSCRIPTION_PAID,
                postings=[(accounts[periods.CASH], paid), (accounts[periods.UNEARNED], -paid)],
                memo=f"Subscription {renewal.subscription.id} paid {renewal.starts_at:%Y-%m-%d}",
            )
        )
        for older in renewal.closing:
            rest = periods.unearned(older) - periods.reserved(older, periods.outstanding(older))
            if rest > 0:
                entries.append(periods.unused_entry(older, rest, accounts))
                older.to_revenue += rest
            older.closed_at = now
        subscription = renewal.subscription
        subscription.current_period_start = renewal.starts_at
        subscription.current_period_end = renewal.ends_at
        subscription.lessons_used = 0
        if subscription.open_provider_invoice_id == renewal.invoice["id"]:
            subscription.open_provider_invoice_id = None
    bulk.post_many(entries)
    db.session.flush()


def _write_invoices(renewals) -> None:
    """The student's paid invoice for each renewal, and its receipt queued."""
    written = create_subscription_invoices(
        [invoice_of(r.subscription, r.invoice, r.starts_at, r.ends_at) for r in renewals]
    )
    for renewal, invoice in zip(renewals, written, strict=True):
        renewal.portal_invoice = invoice
    enqueue_after_commit(send_payment_receipts, [invoice.id for invoice in written])
