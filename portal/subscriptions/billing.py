"""Paid Stripe subscription invoices: each opens a period and gets one portal invoice.

A Stripe invoice counts once, however it is seen: the create call's answer,
`invoice.paid`, `invoice.payment_succeeded` (Stripe sends both), the payment intent that
collected it, the hourly sync or the monthly sweep. The subscription's row is locked
first, so two of them arriving together take turns; the period is opened once per
Stripe invoice (`periods.open_period` is idempotent by its id) and the portal invoice is
written once per Stripe invoice (unique, and looked up first).

What a paid invoice does, in this order: a downgrade waiting for the renewal takes
effect (the new period gets the new plan's lessons); the period the invoice paid for
opens (the money goes to unearned subscription revenue, the quota starts again); the
student's paid, numbered invoice is written and its receipt queued. A 0-amount invoice
(a trial) opens its period but bills nothing, so it gets no portal invoice. An invoice
of a subscription that has ended since is booked and its period closed at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.after_commit import enqueue_after_commit
from portal.db import utcnow
from portal.errors import Conflict
from portal.extensions import db
from portal.invoices.models import Invoice
from portal.invoices.services import SubscriptionInvoice, create_subscription_invoice
from portal.invoices.tasks import send_payment_receipt
from portal.subscriptions import periods
from portal.subscriptions.models import Subscription, SubscriptionPeriod, SubscriptionStatus
from portal.subscriptions.sync import from_timestamp, plan_for_price, price_id_of


@dataclass(frozen=True)
class Renewal:
    period: SubscriptionPeriod
    invoice: Invoice | None


def subscription_id_of_invoice(invoice: dict) -> str | None:
    """The Stripe subscription an invoice bills (top level in older API versions and
    localstripe, under `parent` in newer ones)."""
    value = invoice.get("subscription")
    if value is None:
        parent = invoice.get("parent") or {}
        value = (parent.get("subscription_details") or {}).get("subscription")
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def subscription_metadata_of_invoice(invoice: dict) -> dict:
    """The metadata of the subscription an invoice bills, where Stripe copies it."""
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or invoice.get("subscription_details") or {}
    metadata = details.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def is_complete_invoice(invoice: dict) -> bool:
    """Everything `renew_subscription` reads is in the object (else Stripe is asked)."""
    lines = invoice.get("lines")
    return (
        isinstance(invoice.get("status"), str)
        and isinstance(invoice.get("amount_paid"), int)
        and isinstance(invoice.get("currency"), str)
        and isinstance(lines, dict)
        and isinstance(lines.get("data"), list)
        and not lines.get("has_more")
    )


def renew_subscription(
    subscription: Subscription, invoice: dict, *, lock: periods.RenewalLock | None = None
) -> Renewal | None:
    """Apply a Stripe invoice of `subscription`; None unless it is paid. `lock`: the
    subscription locked for this invoice already (`periods.lock_for_renewal`)."""
    if invoice.get("status") != "paid":
        return None
    if lock is None:
        lock = periods.lock_for_renewal(Subscription.id == subscription.id, invoice["id"])
    subscription = lock.subscription
    if subscription_id_of_invoice(invoice) not in (None, subscription.provider_subscription_id):
        raise Conflict("That invoice bills another subscription.")
    starts_at, ends_at = period_of(invoice, subscription)
    _take_waiting_plan(subscription, invoice)
    period, opened = periods.open_or_find_period(
        subscription,
        starts_at=starts_at,
        ends_at=ends_at,
        amount_paid=int(invoice["amount_paid"]),
        currency=invoice["currency"],
        provider_invoice_id=invoice["id"],
        lock=lock,
    )
    if subscription.status in (SubscriptionStatus.CANCELED, SubscriptionStatus.EXPIRED):
        # Money for a subscription that has ended since (a late or final invoice) is
        # booked, and its period closed at once: nothing of it can be used any more.
        periods.close_period(period)
    if subscription.open_provider_invoice_id == invoice["id"]:
        subscription.open_provider_invoice_id = None
    portal_invoice = None
    if invoice["amount_paid"] > 0:
        first_time = opened and lock.invoice_id is None
        portal_invoice = _portal_invoice(subscription, invoice, starts_at, ends_at, first_time)
    db.session.flush()
    return Renewal(period, portal_invoice)


def _portal_invoice(subscription, invoice: dict, starts_at, ends_at, first_time) -> Invoice:
    portal_invoice = create_subscription_invoice(
        invoice_of(subscription, invoice, starts_at, ends_at), first_time=first_time
    )
    if portal_invoice.receipt_sent_at is None:
        enqueue_after_commit(send_payment_receipt, portal_invoice.id)
    return portal_invoice


def invoice_of(
    subscription: Subscription, invoice: dict, starts_at: datetime, ends_at: datetime
) -> SubscriptionInvoice:
    """The student's invoice for a paid Stripe invoice: the plan's period, for what
    Stripe collected, dated when Stripe was paid."""
    paid_at = from_timestamp((invoice.get("status_transitions") or {}).get("paid_at"))
    return SubscriptionInvoice(
        user_id=subscription.student_id,
        subscription_id=subscription.id,
        provider_invoice_id=invoice["id"],
        description=(
            f"{subscription.plan.name} subscription, {starts_at:%d %b %Y} to {ends_at:%d %b %Y}"
        ),
        amount=int(invoice["amount_paid"]),
        currency=invoice["currency"],
        paid_at=paid_at or utcnow(),
    )


def _take_waiting_plan(subscription: Subscription, invoice: dict) -> None:
    """A downgrade waits for the renewal: the invoice billing the new price brings it."""
    if subscription.next_plan_id is None:
        return
    prices = {line_price_id(line) for line in _lines(invoice) if not is_proration(line)}
    if subscription.next_plan.provider_price_id in prices:
        subscription.plan = plan_for_price(subscription.next_plan.provider_price_id)
        subscription.plan_id = subscription.plan.id
        subscription.next_plan_id = None
        subscription.next_plan = None
        db.session.flush()


def line_price_id(line: dict) -> str | None:
    """A line's price: `pricing.price_details.price` in newer API versions, `price` or
    `plan` in older ones and localstripe."""
    details = (line.get("pricing") or {}).get("price_details") or {}
    found = details.get("price")
    if isinstance(found, dict):
        found = found.get("id")
    return found if isinstance(found, str) else price_id_of(line)


def is_proration(line: dict) -> bool:
    parent = line.get("parent") or {}
    details = parent.get("subscription_item_details") or parent.get("invoice_item_details") or {}
    return bool(line.get("proration") or details.get("proration"))


def period_of(invoice: dict, subscription: Subscription) -> tuple[datetime, datetime]:
    """The service period an invoice paid for: its lines' periods (a renewal's invoice
    dates itself by the period before), else the subscription's current period."""
    spans = [line.get("period") or {} for line in _lines(invoice)]
    starts = [span["start"] for span in spans if isinstance(span.get("start"), int)]
    ends = [span["end"] for span in spans if isinstance(span.get("end"), int)]
    if starts and ends and max(ends) > min(starts):
        return from_timestamp(min(starts)), from_timestamp(max(ends))
    start, end = invoice.get("period_start"), invoice.get("period_end")
    if isinstance(start, int) and isinstance(end, int) and end > start:
        return from_timestamp(start), from_timestamp(end)
    if subscription.current_period_start and subscription.current_period_end:
        return subscription.current_period_start, subscription.current_period_end
    raise Conflict("Stripe's invoice says no period it pays for.")


def _lines(invoice: dict) -> list[dict]:
    lines = invoice.get("lines") or {}
    data = lines.get("data") if isinstance(lines, dict) else None
    return [line for line in data or [] if isinstance(line, dict)]
