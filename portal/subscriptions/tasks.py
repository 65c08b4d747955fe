"""The scheduled subscription tasks: ask Stripe about stale subscriptions (hourly), end
the ones that ran out (daily), and give every paid Stripe invoice its portal invoice
(monthly). Each subscription is its own unit of work: one Stripe cannot answer for does
not stop the rest, and the next run tries it again.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

import sqlalchemy as sa
from celery import shared_task
from flask import current_app

from portal.db import unit_of_work, utcnow
from portal.extensions import db
from portal.invoices.models import Invoice
from portal.providers import get_provider
from portal.subscriptions.billing import renew_subscription
from portal.subscriptions.models import (
    LIVE_STATUSES,
    Subscription,
    SubscriptionPeriod,
    SubscriptionStatus,
)
from portal.subscriptions.services import refresh_subscription
from portal.subscriptions.sync import apply_provider_subscription

log = logging.getLogger(__name__)
S = SubscriptionStatus
BATCH = 500
# A live subscription not confirmed with Stripe for this long is asked about anyway.
RESYNC_AFTER = timedelta(days=1)
# Stripe's renewal (and its webhook) may take this long after the period ends.
RENEWAL_SLACK = timedelta(hours=1)
INVOICES_PER_SUBSCRIPTION = 3


def _each(ids: list[int], work) -> Counter:
    outcomes: Counter = Counter()
    for subscription_id in ids:
        try:
            with unit_of_work():
                subscription = db.session.get(Subscription, subscription_id)
                outcomes[work(subscription)] += 1
        except Exception:  # logged; the next run tries again
            log.exception("subscription %s: task step failed", subscription_id)
            outcomes["errors"] += 1
    return outcomes


def _summary(outcomes: Counter) -> str:
    return ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items())) or "none"


@shared_task(name="sync_subscription_status")
def sync_subscription_status() -> str:
    """Ask Stripe about subscriptions whose state may be stale: waiting for a first
    payment, past due, past their period's end without a renewal, or not confirmed for a
    day (a webhook lost or failed)."""
    now = utcnow()
    ids = stale_subscription_ids(now)
    outcomes = _each(ids, lambda sub: refresh_subscription(sub).status)
    return f"subscriptions checked: {_summary(outcomes)}"


def stale_subscription_ids(now) -> list[int]:
    stale = sa.or_(
        Subscription.status.in_((S.INCOMPLETE, S.PAST_DUE)),
        Subscription.current_period_end < now - RENEWAL_SLACK,
        Subscription.synced_at.is_(None),
        Subscription.synced_at < now - RESYNC_AFTER,
    )
    return list(
        db.session.scalars(
            sa.select(Subscription.id)
            .where(Subscription.status.in_(LIVE_STATUSES), stale)
            .order_by(Subscription.synced_at.nulls_first(), Subscription.id)
            .limit(BATCH)
        )
    )


@shared_task(name="expire_subscriptions")
def expire_subscriptions() -> str:
    """End subscriptions cancelled at their period's end once it has passed, and past-due
    ones SUBSCRIPTION_GRACE_DAYS after their renewal date; both become `expired`."""
    now = utcnow()
    grace = timedelta(days=current_app.config["SUBSCRIPTION_GRACE_DAYS"])
    ran_out = sa.and_(
        Subscription.cancel_at_period_end.is_(True), Subscription.current_period_end <= now
    )
    unpaid = sa.and_(
        Subscription.status == S.PAST_DUE, Subscription.current_period_end <= now - grace
    )
    ids = list(
        db.session.scalars(
            sa.select(Subscription.id)
            .where(Subscription.status.in_(LIVE_STATUSES), sa.or_(ran_out, unpaid))
            .order_by(Subscription.current_period_end, Subscription.id)
            .limit(BATCH)
        )
    )
    outcomes = _each(ids, lambda sub: expire(sub, now=now, grace=grace))
    return f"subscriptions ended: {_summary(outcomes)}"


def expire(subscription: Subscription, *, now, grace: timedelta) -> str:
    """End one subscription that ran out, at Stripe first (Stripe may have done it)."""
    provider = get_provider()
    obj = provider.retrieve_subscription(subscription.provider_subscription_id)
    apply_provider_subscription(subscription, obj)
    if subscription.status not in LIVE_STATUSES:
        return subscription.status
    ran_out = subscription.cancel_at_period_end and subscription.current_period_end <= now
    unpaid = subscription.status == S.PAST_DUE and (subscription.current_period_end <= now - grace)
    if not (ran_out or unpaid):
        return "still live"  # reactivated or renewed at Stripe meanwhile
    obj = provider.cancel_subscription_now(subscription.provider_subscription_id)
    apply_provider_subscription(subscription, obj)
    if subscription.status == S.CANCELED:  # it ran out, it was not cut short
        subscription.status = S.EXPIRED
        db.session.flush()
    return subscription.status


@shared_task(name="generate_monthly_invoices")
def generate_monthly_invoices() -> str:
    """Give every paid Stripe subscription invoice its portal invoice: the periods paid
    for without one, and the recent invoices Stripe lists for live subscriptions (an
    `invoice.paid` that never arrived). Each Stripe invoice still counts once."""
    ids = list(
        db.session.scalars(
            sa.select(Subscription.id)
            .where(
                sa.or_(
                    Subscription.status.in_(LIVE_STATUSES),
                    Subscription.id.in_(_periods_without_invoice()),
                )
            )
            .order_by(Subscription.id)
            .limit(BATCH * 4)
        )
    )
    outcomes = _each(ids, invoice_paid_invoices)
    return f"subscriptions billed: {_summary(outcomes)}"


def _periods_without_invoice() -> sa.Select:
    return (
        sa.select(SubscriptionPeriod.subscription_id)
        .outerjoin(Invoice, Invoice.provider_invoice_id == SubscriptionPeriod.provider_invoice_id)
        .where(
            SubscriptionPeriod.provider_invoice_id.is_not(None),
            SubscriptionPeriod.amount_paid > 0,
            Invoice.id.is_(None),
        )
    )


def invoice_paid_invoices(subscription: Subscription) -> str:
    provider = get_provider()
    listed = provider.list_subscription_invoices(
        subscription.provider_subscription_id, limit=INVOICES_PER_SUBSCRIPTION
    )
    before = _invoice_count(subscription)
    for invoice in sorted(listed, key=lambda i: i.get("created") or 0):
        renew_subscription(subscription, invoice)
    return "invoiced" if _invoice_count(subscription) > before else "up to date"


def _invoice_count(subscription: Subscription) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(Invoice.id)).where(Invoice.subscription_id == subscription.id)
    )
