"""A Stripe subscription object mapped onto our row: one mapping for every path.

The create call's answer, a webhook event's object and the hourly sync's fetch all come
here, in Stripe's JSON shape (older API versions and localstripe keep the period on the
subscription, newer ones on its item: both are read).

Order: events about one subscription apply in the order Stripe created them. The row
keeps the `created` of the newest event applied; an older event arriving late changes
nothing. A state read from Stripe (an answer, a fetch) is newer than every event Stripe
created up to the second it was read, so it is stamped one second later.

Statuses: Stripe's `incomplete`, `trialing`, `active` and `past_due` are ours; `unpaid`
and `paused` count as past due (no covered bookings). An ended subscription is
`expired` when it ran out (cancelled at the period end, unpaid after Stripe's retries,
or a first payment never completed) and `canceled` when it was ended early. An ended
subscription never comes back to life.

Transitions have their effects here, once, under the row lock: becoming live sends the
"started" e-mail; ending closes the open period (its remainder becomes platform revenue)
and sends the "ended" e-mail.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import sqlalchemy as sa

from portal.after_commit import enqueue_after_commit
from portal.db import utcnow
from portal.extensions import db
from portal.subscriptions import periods
from portal.subscriptions.models import (
    BOOKABLE_STATUSES,
    LIVE_STATUSES,
    Plan,
    Subscription,
    SubscriptionStatus,
)
from portal.subscriptions.notifications import Mail, send_subscription_email

S = SubscriptionStatus
ENDED_STATUSES = (S.CANCELED, S.EXPIRED)
_STATUSES = {
    "incomplete": S.INCOMPLETE,
    "trialing": S.TRIALING,
    "active": S.ACTIVE,
    "past_due": S.PAST_DUE,
    "unpaid": S.PAST_DUE,
    "paused": S.PAST_DUE,
    "incomplete_expired": S.EXPIRED,
}
# Stripe ends a subscription that reached its period end within this of it.
_RAN_OUT_SLACK_SECONDS = 3600


def lock_subscription(subscription: Subscription) -> Subscription:
    """The row locked and reloaded: one change to a subscription at a time."""
    return db.session.scalars(
        sa.select(Subscription)
        .where(Subscription.id == subscription.id)
        .with_for_update(of=Subscription)
        .execution_options(populate_existing=True)
    ).one()


def apply_provider_subscription(
    subscription: Subscription, obj: dict, *, event_created: int | None = None
) -> bool:
    """Map Stripe's subscription `obj` onto `subscription`; False when it is older than
    what was applied already (and nothing changed)."""
    subscription = lock_subscription(subscription)
    stamp = event_created if event_created is not None else int(time.time()) + 1
    if subscription.provider_event_created and stamp < subscription.provider_event_created:
        return False
    before = subscription.status
    _copy_fields(subscription, obj)
    subscription.status = _status(subscription, obj, before)
    subscription.provider_event_created = max(stamp, subscription.provider_event_created or 0)
    subscription.synced_at = utcnow()
    db.session.flush()
    on_status_change(subscription, before)
    return True


def on_status_change(subscription: Subscription, before: str | None) -> None:
    """The effects of a change of status (none when it did not change)."""
    after = subscription.status
    if after == before:
        return
    if after in BOOKABLE_STATUSES and before in (None, S.INCOMPLETE):
        enqueue_after_commit(send_subscription_email, subscription.id, Mail.STARTED)
    if after in ENDED_STATUSES and before in LIVE_STATUSES:
        subscription.ended_at = subscription.ended_at or utcnow()
        periods.close_current_period(subscription)
        if before != S.INCOMPLETE:  # a subscription that never started did not end
            enqueue_after_commit(send_subscription_email, subscription.id, Mail.ENDED)
        db.session.flush()


def _copy_fields(subscription: Subscription, obj: dict) -> None:
    subscription.provider_subscription_id = obj.get("id") or subscription.provider_subscription_id
    subscription.provider_customer_id = _id(obj.get("customer")) or (
        subscription.provider_customer_id
    )
    item = item_of(obj)
    start = obj.get("current_period_start") or item.get("current_period_start")
    end = obj.get("current_period_end") or item.get("current_period_end")
    if start and end:
        subscription.current_period_start = from_timestamp(start)
        subscription.current_period_end = from_timestamp(end)
    subscription.trial_start = from_timestamp(obj.get("trial_start"))
    subscription.trial_end = from_timestamp(obj.get("trial_end"))
    subscription.cancel_at_period_end = bool(obj.get("cancel_at_period_end"))
    subscription.canceled_at = from_timestamp(obj.get("canceled_at"))
    subscription.ended_at = from_timestamp(obj.get("ended_at")) or subscription.ended_at
    _follow_plan(subscription, price_id_of(item))
    latest = obj.get("latest_invoice")
    unpaid = obj.get("status") in ("incomplete", "past_due", "unpaid")
    if isinstance(latest, dict) and latest.get("status") == "paid":
        unpaid = False
    subscription.open_provider_invoice_id = _id(latest) if unpaid else None


def _follow_plan(subscription: Subscription, price_id: str | None) -> None:
    """The plan Stripe bills. A downgrade waiting for the period end is already the price
    at Stripe (billed from the renewal) while the current period keeps the old plan."""
    if price_id is None or price_id == subscription.plan.provider_price_id:
        return
    plan = plan_for_price(price_id)
    if plan is None or plan.id == subscription.next_plan_id:
        return
    subscription.plan_id = plan.id
    subscription.plan = plan


def _status(subscription: Subscription, obj: dict, before: str | None) -> str:
    if before in ENDED_STATUSES:
        return before
    stripe_status = obj.get("status")
    if stripe_status == "canceled":
        return S.EXPIRED if _ran_out(obj) else S.CANCELED
    return _STATUSES.get(stripe_status, before or S.INCOMPLETE)


def _ran_out(obj: dict) -> bool:
    details = obj.get("cancellation_details") or {}
    if details.get("reason") == "payment_failed":
        return True
    end = obj.get("current_period_end") or item_of(obj).get("current_period_end")
    ended = obj.get("ended_at")
    return bool(
        obj.get("cancel_at_period_end") and end and ended and ended >= end - _RAN_OUT_SLACK_SECONDS
    )


# Reading Stripe's shapes


def item_of(obj: dict) -> dict:
    """The subscription's one item (the portal's subscriptions have exactly one)."""
    items = obj.get("items")
    data = items.get("data") if isinstance(items, dict) else None
    return data[0] if data and isinstance(data[0], dict) else {}


def price_id_of(item: dict) -> str | None:
    """The item's price id, or its plan id (localstripe and older objects)."""
    return _id(item.get("price")) or _id(item.get("plan"))


def plan_for_price(price_id: str) -> Plan | None:
    return db.session.scalar(sa.select(Plan).where(Plan.provider_price_id == price_id))


def from_timestamp(value: object) -> datetime | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return datetime.fromtimestamp(value, UTC)


def _id(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None
