"""What each Stripe event type does, through the same services the JSON API calls.

A handler takes the stored event, changes what it has to (adding and flushing, never
committing) and returns one sentence for the admin log. Every handler can run any number
of times: the payment services change nothing the second time.

Events arrive late, twice and out of order, so the payment handlers do not trust the
object in the payload: they fetch the payment intent (and its refunds) from Stripe and
apply that, so an old `payment_failed` never undoes a newer success, and a
`charge.refunded` that overtakes its `payment_intent.succeeded` records the success
first, and a refund Stripe later fails (`charge.refund.updated`, `refund.failed`) is
undone by the same refund sync. Subscription and invoice events (and the payment
intents that collect invoices) are thin: `portal.subscriptions.events` applies them,
in Stripe's order for each subscription, and each Stripe invoice once.

`EventNotApplicable` means the event can never be applied as it is (no such payment,
an unexpected shape): the event is failed with that reason and not retried.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import sqlalchemy as sa

from portal.extensions import db
from portal.payments.models import COLLECTED_STATUSES, Payment
from portal.payments.outcome import apply_intent, sync_checkout_payment
from portal.payments.refunds import apply_provider_refund
from portal.providers import get_provider
from portal.providers.base import ProviderRefund
from portal.subscriptions import events as subscription_events
from portal.subscriptions import renewal_day
from portal.webhooks.models import EventStatus, WebhookEvent

Handler = Callable[[WebhookEvent], str]
HANDLERS: dict[str, Handler] = {}
# Event types whose events may also be handled many at once (a batch of the webhook
# task): the handler answers each event it applied, and None for one it left to its
# type's one-by-one handler, which runs after it.
BulkHandler = Callable[[list[WebhookEvent]], list[str | None]]
BULK_HANDLERS: dict[str, BulkHandler] = {}


class EventNotApplicable(Exception):
    """The event cannot be applied, now or on a retry; the message says why."""


def handles(*types: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for type_ in types:
            HANDLERS[type_] = handler
        return handler

    return register


def handles_many(*types: str) -> Callable[[BulkHandler], BulkHandler]:
    def register(handler: BulkHandler) -> BulkHandler:
        for type_ in types:
            BULK_HANDLERS[type_] = handler
        return handler

    return register


# Reading the payload


def event_object(event: WebhookEvent, prefix: str) -> dict:
    """`data.object` with an id that starts with `prefix`, or EventNotApplicable."""
    obj = event.data_object
    if obj is None:
        raise EventNotApplicable("Unexpected shape: the event has no data.object.")
    object_id = obj.get("id")
    if not isinstance(object_id, str) or not object_id.startswith(prefix):
        raise EventNotApplicable(f"Unexpected shape: data.object.id is not a {prefix}… id.")
    return obj


def id_field(obj: dict, name: str, prefix: str) -> str:
    """An id field that may be the id or the expanded object."""
    value = obj.get(name)
    if isinstance(value, dict):
        value = value.get("id")
    if not isinstance(value, str) or not value.startswith(prefix):
        raise EventNotApplicable(f"Unexpected shape: {name} is not a {prefix}… id.")
    return value


def _metadata(obj: dict) -> dict:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


# Payments


def payment_for_intent(intent_id: str, metadata: dict) -> Payment:
    """Our payment for a Stripe payment intent: by its id, else by the uuid we put in its
    metadata (a Checkout payment learns its intent id only once it is paid)."""
    payment = db.session.scalar(sa.select(Payment).where(Payment.provider_payment_id == intent_id))
    if payment is None:
        payment = _payment_by_uuid(metadata.get("payment_uuid"))
    if payment is None:
        raise EventNotApplicable(f"No payment here for payment intent {intent_id}.")
    if payment.provider_payment_id not in (None, intent_id):
        raise EventNotApplicable(
            f"Payment {payment.uuid} belongs to intent {payment.provider_payment_id}, "
            f"not {intent_id}."
        )
    return payment


def _payment_by_uuid(value: object) -> Payment | None:
    try:
        key = uuid.UUID(str(value))
    except ValueError:
        return None
    return db.session.scalar(sa.select(Payment).where(Payment.uuid == key))


def settle_from_provider(payment: Payment) -> str:
    """Apply what Stripe says now about the payment's intent; the confirm call does the same."""
    before = payment.status
    if payment.provider_payment_id is None:
        return _settle_checkout(payment)
    intent = get_provider().retrieve_payment_intent(payment.provider_payment_id)
    apply_intent(payment, intent)
    return _change(payment, before, f"Stripe says {intent.status}")


def _settle_checkout(payment: Payment) -> str:
    before = payment.status
    sync_checkout_payment(payment)
    return _change(payment, before, "from its Checkout Session")


def _change(payment: Payment, before: str, why: str) -> str:
    # The services lock and reload the payment into this same instance (identity map).
    if payment.status == before:
        return f"Payment {payment.uuid} stays {before} ({why})."
    return f"Payment {payment.uuid}: {before} → {payment.status} ({why})."


@handles("payment_intent.succeeded", "payment_intent.payment_failed")
def payment_intent_event(event: WebhookEvent) -> str:
    intent = event_object(event, "pi_")
    if intent.get("invoice"):
        # It collects a Stripe invoice (a subscription's): never a lesson payment, and
        # never a failure here.
        return _subscriptions(lambda: subscription_events.invoice_intent(intent))
    payment = payment_for_intent(intent["id"], _metadata(intent))
    return settle_from_provider(payment)


@handles("charge.refunded")
def charge_refunded(event: WebhookEvent) -> str:
    charge = event_object(event, "ch_")
    intent_id = id_field(charge, "payment_intent", "pi_")
    return sync_refunds(payment_for_intent(intent_id, _metadata(charge)), intent_id)


@handles("charge.refund.updated", "refund.updated", "refund.failed")
def refund_updated(event: WebhookEvent) -> str:
    """A refund went through or failed after it was made; a failed one is undone."""
    refund = event_object(event, "re_")
    intent_id = id_field(refund, "payment_intent", "pi_")
    return sync_refunds(payment_for_intent(intent_id, _metadata(refund)), intent_id)


def sync_refunds(payment: Payment, intent_id: str) -> str:
    """Apply every refund of the intent as Stripe has it now (new ones, and the status
    of ones we know)."""
    # Recording a success locks the invoice counter, which every payment's success waits
    # for until this transaction ends: ask Stripe for the refunds first when the success
    # is already recorded (the usual order), and only after it in the rare other case.
    refunds = refunds_for_intent(intent_id) if payment.status in COLLECTED_STATUSES else None
    # A refund can overtake the success it refunds: record the success first.
    settled = settle_from_provider(payment)
    if payment.status not in COLLECTED_STATUSES or payment.provider_payment_id != intent_id:
        raise EventNotApplicable(f"{settled} A refund needs a payment that went through.")
    if refunds is None:
        refunds = refunds_for_intent(intent_id)
    before = payment.amount_refunded
    for refund in refunds:
        apply_provider_refund(payment, refund)
    statuses = ", ".join(f"{r.id} {r.status}" for r in refunds)
    return (
        f"{settled} Refunds at Stripe: {statuses or 'none'}; refunded here "
        f"{before} → {payment.amount_refunded} of {payment.amount} ({payment.status})."
    )


def refunds_for_intent(intent_id: str) -> list[ProviderRefund]:
    """Every refund of the intent as Stripe has it now, oldest first: the payload's list
    may be stale or cut short, and the split gives the remainder to the last refund."""
    return get_provider().list_refunds(intent_id)


@handles("checkout.session.completed")
def checkout_completed(event: WebhookEvent) -> str:
    session = event_object(event, "cs_")
    if session.get("mode") == "subscription":
        return _subscriptions(lambda: subscription_events.checkout_completed(session))
    if session.get("mode") != "payment":
        return record_only(event, "Checkout Session", _checkout_summary(session))
    payment = db.session.scalar(
        sa.select(Payment).where(Payment.provider_checkout_session_id == session["id"])
    )
    if payment is None:
        raise EventNotApplicable(f"No payment here for Checkout Session {session['id']}.")
    return _settle_checkout(payment)


def _checkout_summary(session: dict) -> str:
    return _summary(
        session,
        mode="mode",
        status="status",
        payment_status="payment",
        subscription="subscription",
    )


# Subscriptions and invoices: `portal.subscriptions.events` does the work.


def _subscriptions(call: Callable[[], str]) -> str:
    try:
        return call()
    except subscription_events.NotApplicable as exc:
        raise EventNotApplicable(str(exc)) from exc
    except subscription_events.NeverRecorded as exc:
        return f"{exc} Recorded only."


def _stripe_created(event: WebhookEvent) -> int:
    return int(event.stripe_created.timestamp())


@handles(
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)
def subscription_event(event: WebhookEvent) -> str:
    obj = event_object(event, "sub_")
    created = _stripe_created(event)
    return _subscriptions(
        lambda: subscription_events.subscription_changed(obj, event_created=created)
    )


@handles("customer.subscription.trial_will_end")
def trial_will_end(event: WebhookEvent) -> str:
    obj = event_object(event, "sub_")
    return _subscriptions(lambda: subscription_events.trial_will_end(obj))


@handles("invoice.paid", "invoice.payment_succeeded")
def invoice_paid(event: WebhookEvent) -> str:
    obj = event_object(event, "in_")
    return _subscriptions(lambda: subscription_events.invoice_paid(obj))


@handles_many("invoice.paid", "invoice.payment_succeeded")
def invoices_paid(events: list[WebhookEvent]) -> list[str | None]:
    """Renewal day: the plain renewals among many paid invoices, applied together."""
    return renewal_day.renew_many([_invoice_or_none(event) for event in events])


def _invoice_or_none(event: WebhookEvent) -> dict | None:
    obj = event.data_object
    if obj is None or not str(obj.get("id", "")).startswith("in_"):
        return None  # the one-by-one handler says what is wrong with it
    return obj


@handles("invoice.payment_failed")
def invoice_payment_failed(event: WebhookEvent) -> str:
    obj = event_object(event, "in_")
    return _subscriptions(lambda: subscription_events.invoice_payment_failed(obj))


def _summary(obj: dict | None, **labels: str) -> str:
    """The fields Stripe sent, as "label value" pairs; absent ones are left out."""
    obj = obj or {}
    parts = [
        f"{label} {_plain(obj[key])}" for key, label in labels.items() if obj.get(key) is not None
    ]
    return ", ".join(parts) or "no details sent"


def _plain(value: object) -> str:
    if isinstance(value, dict):
        return str(value.get("id", "…"))
    return str(value)[:80]


def record_only(event: WebhookEvent, noun: str, summary: str) -> str:
    newer = newer_event_for(event)
    stale = f" Superseded by the newer {newer.stripe_id}." if newer is not None else ""
    return f"{noun} {event.object_id}: {summary}. Recorded only.{stale}"


def newer_event_for(event: WebhookEvent) -> WebhookEvent | None:
    """A processed event about the same object that Stripe created after this one."""
    if event.object_id is None:
        return None
    return db.session.scalar(
        sa.select(WebhookEvent)
        .where(
            WebhookEvent.object_id == event.object_id,
            WebhookEvent.id != event.id,
            WebhookEvent.stripe_created > event.stripe_created,
            WebhookEvent.status == EventStatus.PROCESSED,
        )
        .order_by(WebhookEvent.stripe_created.desc())
        .limit(1)
    )
