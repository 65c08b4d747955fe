"""What Stripe's subscription and invoice events do here (the webhook handlers call these).

The event's object is used as delivered; Stripe is asked only when it is incomplete (a
subscription without its status or item, an invoice without its lines or amounts, an
intent whose invoice must be read). Events about one subscription apply in the order
Stripe created them (`sync.py`); an invoice counts once however often it is reported
(`billing.py`).

Which subscription: the one with that Stripe id. A subscription started by the API
carries our row's uuid in its metadata, and an event may overtake the commit of the
request that made it: that is `NotYetKnown`, retried later, unless Stripe says it has
ended (a declined first payment, cancelled at Stripe and never written here:
`NeverRecorded`, recorded only). One started from a Checkout
page carries the student and the plan, and is written here from the first event that
names it; a second one for a student who has a live subscription already (two tabs) is
cancelled at Stripe and refunded (`leftovers`), and so is one the portal started whose
request died before it could commit.

Each function returns one sentence for the admin's event log; `NotApplicable` means the
event can never apply (not a portal subscription, an unexpected shape).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import Role, User
from portal.after_commit import enqueue_after_commit
from portal.db import parse_id, utcnow
from portal.errors import PortalError
from portal.extensions import db
from portal.providers import get_provider
from portal.subscriptions import leftovers, periods
from portal.subscriptions.billing import (
    is_complete_invoice,
    renew_subscription,
    subscription_id_of_invoice,
    subscription_metadata_of_invoice,
)
from portal.subscriptions.models import Plan, Subscription, SubscriptionPeriod, SubscriptionStatus
from portal.subscriptions.notifications import Mail, send_subscription_email
from portal.subscriptions.sync import (
    apply_provider_subscription,
    from_timestamp,
    item_of,
    lock_subscription,
)

S = SubscriptionStatus


class NotApplicable(Exception):
    """The event cannot apply, now or on a retry; the message says why."""


class NeverRecorded(Exception):
    """The subscription was cancelled at Stripe before it was ever written here (a
    declined first payment): its events are recorded and change nothing."""


class NotYetKnown(PortalError):
    """The subscription's row is not committed yet: try again in a moment."""

    status = 409
    code = "not_yet_known"
    retryable = True


# Subscriptions


def subscription_changed(obj: dict, *, event_created: int) -> str:
    """`customer.subscription.created | updated | deleted`."""
    obj = _complete_subscription(obj)
    subscription = subscription_for(obj["id"], _metadata(obj), fetch=lambda: obj)
    before = subscription.status
    if not apply_provider_subscription(subscription, obj, event_created=event_created):
        return f"Subscription {subscription.id}: older than what was applied; nothing changed."
    return f"Subscription {subscription.id}: {before} → {subscription.status}."


def trial_will_end(obj: dict) -> str:
    """`customer.subscription.trial_will_end` (three days before): the reminder."""
    subscription = subscription_for(obj.get("id"), _metadata(obj), fetch=None)
    if subscription.status != S.TRIALING or obj.get("status") != "trialing":
        return f"Subscription {subscription.id} is {subscription.status}: no reminder."
    enqueue_after_commit(send_subscription_email, subscription.id, Mail.TRIAL_ENDING)
    return f"Subscription {subscription.id}: trial reminder queued."


def _complete_subscription(obj: dict) -> dict:
    if not isinstance(obj.get("id"), str) or not obj["id"].startswith("sub_"):
        raise NotApplicable("Unexpected shape: data.object.id is not a sub_… id.")
    if isinstance(obj.get("status"), str) and item_of(obj):
        return obj
    return get_provider().retrieve_subscription(obj["id"])


# Invoices


def invoice_paid(obj: dict) -> str:
    """`invoice.paid` and `invoice.payment_succeeded`: the period it paid for opens."""
    invoice = _complete_invoice(obj)
    subscription_id = subscription_id_of_invoice(invoice)
    if subscription_id is None:
        return f"Invoice {invoice['id']} bills no subscription; recorded only."
    # Renewal day: the subscription is known, and found and locked in one round trip.
    lock = periods.lock_for_renewal(
        Subscription.provider_subscription_id == subscription_id, invoice["id"]
    )
    if lock is not None:
        subscription = lock.subscription
    else:
        subscription = subscription_for(
            subscription_id,
            subscription_metadata_of_invoice(invoice),
            fetch=lambda: get_provider().retrieve_subscription(subscription_id),
        )
    renewal = renew_subscription(subscription, invoice, lock=lock)
    if renewal is None:
        return f"Invoice {invoice['id']} is {invoice.get('status')}; nothing to apply."
    if subscription.status in (S.INCOMPLETE, S.PAST_DUE):
        # Paid after 3-D Secure or on a retry: Stripe has made it live again.
        apply_provider_subscription(
            subscription, get_provider().retrieve_subscription(subscription_id)
        )
    billed = renewal.invoice
    number = "none (nothing billed)" if billed is None else billed.number or f"#{billed.id}"
    return (
        f"Subscription {subscription.id} ({subscription.status}): period "
        f"{renewal.period.starts_at:%Y-%m-%d} to {renewal.period.ends_at:%Y-%m-%d}, "
        f"invoice {number}."
    )


def invoice_payment_failed(obj: dict) -> str:
    """`invoice.payment_failed`: a renewal that was not paid makes the subscription past
    due and mails the student a link to pay again (a first payment is the create call's
    business). A failure of an invoice since paid changes nothing."""
    invoice = obj if isinstance(obj.get("status"), str) else _complete_invoice(obj)
    subscription_id = subscription_id_of_invoice(invoice)
    if subscription_id is None:
        return f"Invoice {invoice.get('id')} bills no subscription; recorded only."
    subscription = subscription_for(
        subscription_id, subscription_metadata_of_invoice(invoice), fetch=None
    )
    subscription = lock_subscription(subscription)
    if _period_paid_by(invoice["id"]) or invoice.get("status") in ("paid", "void"):
        return f"Invoice {invoice['id']} has been settled since; nothing changed."
    if subscription.status not in (S.ACTIVE, S.TRIALING, S.PAST_DUE):
        return f"Subscription {subscription.id} is {subscription.status}; nothing changed."
    news = subscription.status != S.PAST_DUE or (
        subscription.open_provider_invoice_id != invoice["id"]
    )
    subscription.status = S.PAST_DUE
    subscription.open_provider_invoice_id = invoice["id"]
    db.session.flush()
    if news:
        enqueue_after_commit(send_subscription_email, subscription.id, Mail.PAYMENT_FAILED)
    return f"Subscription {subscription.id} is past due (invoice {invoice['id']})."


def invoice_intent(obj: dict) -> str:
    """A payment intent that collects a subscription invoice (its `invoice` is set): a
    success applies the invoice; anything else is the invoice's own events' business."""
    invoice_id = obj.get("invoice")
    invoice_id = invoice_id.get("id") if isinstance(invoice_id, dict) else invoice_id
    if obj.get("status") != "succeeded":
        return f"Intent {obj.get('id')} of invoice {invoice_id} is {obj.get('status')}; recorded."
    return invoice_paid({"id": invoice_id})


def _complete_invoice(obj: dict) -> dict:
    if not isinstance(obj.get("id"), str) or not obj["id"].startswith("in_"):
        raise NotApplicable("Unexpected shape: the invoice has no in_… id.")
    if is_complete_invoice(obj):
        return obj
    return get_provider().retrieve_invoice(obj["id"])


def _period_paid_by(invoice_id: str) -> bool:
    return (
        db.session.scalar(
            sa.select(sa.literal(True)).where(SubscriptionPeriod.provider_invoice_id == invoice_id)
        )
        is not None
    )


# Checkout


def checkout_completed(session: dict) -> str:
    """A Checkout Session in subscription mode completed: its subscription is written
    here now (if no event about it came first) and applied as Stripe has it."""
    subscription_id = session.get("subscription")
    subscription_id = (
        subscription_id.get("id") if isinstance(subscription_id, dict) else subscription_id
    )
    if not isinstance(subscription_id, str):
        return f"Checkout Session {session.get('id')} has no subscription yet; recorded."
    obj = get_provider().retrieve_subscription(subscription_id)
    subscription = subscription_for(subscription_id, _metadata(obj), fetch=lambda: obj)
    apply_provider_subscription(subscription, obj)
    latest = obj.get("latest_invoice")
    if isinstance(latest, dict):
        renew_subscription(subscription, latest)
    return f"Subscription {subscription.id} from Checkout: {subscription.status}."


# Which subscription


def subscription_for(stripe_id: object, metadata: dict, *, fetch) -> Subscription:
    """Our row for a Stripe subscription (see the module); `fetch()` gives Stripe's
    object when a Checkout subscription must be written here."""
    if not isinstance(stripe_id, str):
        raise NotApplicable("Unexpected shape: no subscription id.")
    subscription = db.session.scalar(
        sa.select(Subscription).where(Subscription.provider_subscription_id == stripe_id)
    )
    if subscription is not None:
        return subscription
    row_uuid = _uuid(metadata.get("subscription_uuid"))
    if row_uuid is not None:
        subscription = db.session.scalar(
            sa.select(Subscription).where(Subscription.uuid == row_uuid)
        )
        if subscription is None:
            _not_yet_known(stripe_id)
        return subscription
    if fetch is None or "student_id" not in metadata:
        raise NotApplicable(f"Subscription {stripe_id} was not started by the portal.")
    return _adopt(stripe_id, metadata, fetch())


def _not_yet_known(stripe_id: str) -> None:
    """A subscription the portal started whose row is missing: the request that made it
    has not committed yet (try again), or it was cancelled at Stripe and rolled back here
    (a declined card, or its request failed) and never will be, or the request died
    before it could commit or roll back: one older than `leftovers.ORPHAN_AFTER` is
    cancelled at Stripe and its payment refunded."""
    obj = get_provider().retrieve_subscription(stripe_id)
    if obj.get("status") in leftovers.ENDED_AT_STRIPE:
        raise NeverRecorded(
            f"Subscription {stripe_id} was cancelled at Stripe before it was recorded here "
            "(its first payment failed, or its request rolled back); nothing to apply."
        )
    created = from_timestamp(obj.get("created"))
    if created is not None and utcnow() - created > leftovers.ORPHAN_AFTER:
        raise NeverRecorded(
            leftovers.discard_at_stripe(stripe_id, why="never recorded here: its request died")
        )
    raise NotYetKnown(f"Subscription {stripe_id} is not recorded here yet.")


def _adopt(stripe_id: str, metadata: dict, obj: dict) -> Subscription:
    """Write the row of a subscription started on a Checkout page."""
    student = db.session.get(User, parse_id(metadata.get("student_id")) or 0)
    plan = db.session.get(Plan, parse_id(metadata.get("plan_id")) or 0)
    if student is None or student.role != Role.STUDENT or plan is None:
        raise NotApplicable(f"Subscription {stripe_id} names no student or plan of ours.")
    subscription = Subscription(
        student_id=student.id,
        plan_id=plan.id,
        status=S.INCOMPLETE,
        provider_subscription_id=stripe_id,
        provider_customer_id=obj.get("customer") if isinstance(obj.get("customer"), str) else None,
    )
    try:
        with db.session.begin_nested():  # added inside: begin_nested flushes what waits
            db.session.add(subscription)
            db.session.flush()
    except IntegrityError as exc:
        # Two events about a new Checkout subscription at once: the other wrote it.
        existing = db.session.scalar(
            sa.select(Subscription).where(Subscription.provider_subscription_id == stripe_id)
        )
        if existing is not None:
            return existing
        raise NeverRecorded(
            leftovers.discard_at_stripe(
                stripe_id, why="a second one: the student already has a live subscription"
            )
        ) from exc
    return subscription


def _metadata(obj: dict) -> dict:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None
