"""What a student does with a subscription: subscribe, cancel, reactivate, change plan,
pay a failed invoice again. Every function asks Stripe first and maps its answer onto
our row (`sync.apply_provider_subscription`); they add and flush, never commit.

Rules:
- Only students subscribe (403 otherwise); one live subscription each (409
  `already_subscribed`, decided by the database's partial unique index under a race).
- Subscribing charges the first invoice at once with the chosen saved card (the default
  card when none is named; somebody else's is a 404). A bank asking for 3-D Secure
  leaves the subscription `incomplete` with a `client_secret` for Stripe.js; a declined
  card is a 409 `card_declined`, and the subscription is cancelled at Stripe and never
  written here, so nothing live is left behind on either side. Neither is anything else
  that rolls back here after Stripe made the subscription: the rollback cancels it there
  and refunds its first payment (`leftovers`).
- Cancelling sets `cancel_at_period_end` (the expire task or Stripe ends it at the
  period's end); `immediately` ends it now. Reactivating clears it (409 `not_cancelling`
  when there is nothing to undo).
- Changing plan: an upgrade (a dearer plan) applies now, and Stripe charges the prorated
  difference for the rest of the period at once (a new period opens with the new
  plan's lessons); a downgrade waits for the end of the period (`next_plan`), and the
  renewal bills the new price. Choosing the current plan again undoes a waiting
  downgrade; otherwise it is a 409 `same_plan`. During a trial every change applies now,
  free. Plans of another interval or currency cannot be switched to (409).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import Role, User
from portal.errors import Conflict, Forbidden, GatewayError, NotFound, ValidationError
from portal.extensions import db
from portal.payments.cards import own_payment_method, payment_methods_of
from portal.payments.customers import ensure_customer
from portal.payments.models import PaymentMethod
from portal.providers import get_provider
from portal.providers.base import CardDeclined, CheckoutLine, ProviderRejected
from portal.subscriptions import leftovers
from portal.subscriptions.billing import renew_subscription
from portal.subscriptions.models import (
    LIVE_STATUSES,
    Plan,
    Subscription,
    SubscriptionStatus,
)
from portal.subscriptions.sync import apply_provider_subscription

S = SubscriptionStatus
DECLINED = "Your card was declined."


@dataclass(frozen=True)
class CreatedSubscription:
    subscription: Subscription
    # Set while the bank asks for 3-D Secure: Stripe.js confirms the first payment with it.
    client_secret: str | None = None


def require_student(user: User) -> None:
    if user.role != Role.STUDENT:
        raise Forbidden("Only students subscribe to plans.")


def current_subscription(student: User) -> Subscription | None:
    """The student's live subscription (trialing, active, past due or incomplete)."""
    return db.session.scalar(
        sa.select(Subscription).where(
            Subscription.student_id == student.id, Subscription.status.in_(LIVE_STATUSES)
        )
    )


def live_subscription(student: User) -> Subscription:
    subscription = current_subscription(student)
    if subscription is None:
        raise NotFound("You have no subscription.")
    return subscription


def _check_can_subscribe(student: User, plan: Plan) -> None:
    require_student(student)
    if not plan.is_active:
        raise Conflict(f"The plan {plan.name} is no longer offered.", code="plan_archived")
    if current_subscription(student) is not None:
        raise Conflict("You already have a subscription.", code="already_subscribed")


# Subscribing


def create_subscription(
    student: User, plan: Plan, *, payment_method_id: object = None
) -> CreatedSubscription:
    """Subscribe `student` to `plan`, charging the first invoice now (see the module)."""
    _check_can_subscribe(student, plan)
    method = _card_for(student, payment_method_id)
    customer = ensure_customer(student)
    provider = get_provider()
    provider.set_default_payment_method(customer, method.provider_method_id)
    subscription = _new_row(student, plan, customer)
    try:
        obj = provider.create_subscription(
            customer=customer,
            price_id=plan.provider_price_id,
            idempotency_key=f"subscription-{subscription.uuid}",
            trial_days=plan.trial_days,
            metadata=_metadata(subscription),
        )
    except CardDeclined as exc:
        raise Conflict(exc.message or DECLINED, code="card_declined") from exc
    # From here on, a rollback here leaves nothing live at Stripe either.
    leftovers.discard_on_rollback(obj["id"])
    client_secret = _first_payment_step(obj)
    apply_provider_subscription(subscription, obj)
    latest = obj.get("latest_invoice")
    if isinstance(latest, dict):
        renew_subscription(subscription, latest)
    return CreatedSubscription(subscription, client_secret)


def _card_for(student: User, payment_method_id: object) -> PaymentMethod:
    if payment_method_id is not None:
        return own_payment_method(student, payment_method_id)
    cards = payment_methods_of(student)  # the default first
    if not cards:
        raise ValidationError(
            "Save a card first: the subscription is charged to it.",
            fields={"payment_method_id": ["No saved card."]},
            code="no_payment_method",
        )
    return cards[0]


def _new_row(student: User, plan: Plan, customer: str) -> Subscription:
    subscription = Subscription(
        student_id=student.id,
        plan_id=plan.id,
        status=S.INCOMPLETE,
        provider_customer_id=customer,
    )
    db.session.add(subscription)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as exc:  # another request subscribed at the same moment
        raise Conflict("You already have a subscription.", code="already_subscribed") from exc
    return subscription


def _metadata(subscription: Subscription) -> dict:
    return {
        "subscription_uuid": str(subscription.uuid),
        "student_id": str(subscription.student_id),
        "plan_id": str(subscription.plan_id),
    }


def _first_payment_step(obj: dict) -> str | None:
    """The client secret when the bank asks for 3-D Secure; a declined first payment
    cancels the subscription at Stripe and is a 409 `card_declined`."""
    if obj.get("status") != "incomplete":
        return None
    provider = get_provider()
    latest = obj.get("latest_invoice")
    if not latest:
        # Stripe bills a subscription's first invoice as it makes it; one without any
        # (localstripe does this for trials) cannot be paid or told apart from a decline.
        _cancel_unpaid(obj["id"])
        raise GatewayError(
            "Stripe did not bill the subscription's first payment; nothing was charged. "
            "Please try again in a minute."
        )
    invoice = latest if isinstance(latest, dict) else provider.retrieve_invoice(latest)
    intent = provider.invoice_payment_intent(invoice)
    if intent is not None and intent.needs_action:
        return intent.client_secret
    _cancel_unpaid(obj["id"])
    message = (intent.error_message if intent is not None else None) or DECLINED
    raise Conflict(message, code="card_declined")


def _cancel_unpaid(stripe_id: str) -> None:
    """A first payment that did not go through: cancelled at Stripe now (nothing was
    charged, so nothing is refunded), and not again by the rollback."""
    get_provider().cancel_subscription_now(stripe_id)
    leftovers.keep(stripe_id)


def create_checkout_subscription(
    student: User, plan: Plan, *, success_url: str, cancel_url: str
) -> str:
    """A Stripe Checkout page (subscription mode) for `plan`; its URL. The subscription
    is written here when Stripe reports it (`events.py`), by the metadata it carries."""
    _check_can_subscribe(student, plan)
    customer = ensure_customer(student)
    # The same request within ten minutes (a double click) gets the same page.
    window = int(time.time() // 600)
    session = get_provider().create_checkout_session(
        mode="subscription",
        customer=customer,
        lines=[CheckoutLine(price_id=plan.provider_price_id)],
        success_url=success_url,
        cancel_url=cancel_url,
        idempotency_key=f"checkout-subscription-{student.id}-{plan.id}-{window}",
        client_reference_id=str(student.id),
        metadata={"student_id": str(student.id), "plan_id": str(plan.id)},
        trial_days=plan.trial_days,
    )
    if not session.url:
        raise Conflict("Stripe did not give a Checkout page. Please try again.")
    return session.url


# Cancelling and reactivating


def cancel_subscription(student: User, *, immediately: bool = False) -> Subscription:
    """Cancel at the end of the period, or now (a subscription whose first payment never
    went through is always ended now)."""
    subscription = live_subscription(student)
    provider = get_provider()
    if immediately or subscription.status == S.INCOMPLETE:
        obj = provider.cancel_subscription_now(subscription.provider_subscription_id)
    else:
        if subscription.cancel_at_period_end:
            raise Conflict(
                "Your subscription already ends at the end of the period.",
                code="already_cancelling",
            )
        obj = provider.set_cancel_at_period_end(subscription.provider_subscription_id, True)
    apply_provider_subscription(subscription, obj)
    return subscription


def reactivate_subscription(student: User) -> Subscription:
    """Undo a cancellation at the period end, before the period ends."""
    subscription = live_subscription(student)
    if not subscription.cancel_at_period_end:
        raise Conflict("Your subscription is not being cancelled.", code="not_cancelling")
    obj = get_provider().set_cancel_at_period_end(subscription.provider_subscription_id, False)
    apply_provider_subscription(subscription, obj)
    return subscription


# Changing plan


def change_plan(student: User, plan: Plan) -> Subscription:
    """Upgrade now with proration, downgrade at the period end (see the module)."""
    subscription = live_subscription(student)
    _check_change(subscription, plan)
    current = subscription.plan
    if plan.id == current.id:  # undo the downgrade that waits
        return _change_at_stripe(subscription, plan, prorate=False, waiting=None)
    if subscription.status == S.TRIALING:
        return _change_at_stripe(subscription, plan, prorate=False, waiting=None)
    if plan.price > current.price:
        return _change_at_stripe(subscription, plan, prorate=True, waiting=None)
    return _change_at_stripe(subscription, plan, prorate=False, waiting=plan)


def _check_change(subscription: Subscription, plan: Plan) -> None:
    if subscription.status not in (S.ACTIVE, S.TRIALING):
        raise Conflict(
            "Pay your subscription first; then you can change plan.", code="not_changeable"
        )
    if plan.id == subscription.next_plan_id or (
        plan.id == subscription.plan_id and subscription.next_plan_id is None
    ):
        raise Conflict("You are already on that plan.", code="same_plan")
    if not plan.is_active:
        raise Conflict(f"The plan {plan.name} is no longer offered.", code="plan_archived")
    if (plan.interval, plan.currency) != (subscription.plan.interval, subscription.plan.currency):
        raise Conflict(
            "Plans billed at another interval or in another currency are a new subscription: "
            "cancel this one first.",
            code="plan_incompatible",
        )


def _change_at_stripe(
    subscription: Subscription, plan: Plan, *, prorate: bool, waiting: Plan | None
) -> Subscription:
    stamp = int(subscription.updated_at.timestamp() * 1000)
    try:
        obj = get_provider().change_subscription_price(
            subscription.provider_subscription_id,
            price_id=plan.provider_price_id,
            prorate=prorate,
            idempotency_key=f"subscription-{subscription.uuid}-plan-{plan.id}-{stamp}",
        )
    except CardDeclined as exc:
        raise Conflict(exc.message or DECLINED, code="card_declined") from exc
    subscription.next_plan_id = waiting.id if waiting is not None else None
    db.session.flush()
    apply_provider_subscription(subscription, obj)
    latest = obj.get("latest_invoice")
    if prorate and isinstance(latest, dict):
        renew_subscription(subscription, latest)
    return subscription


# Paying again


def retry_open_invoice(student: User, *, payment_method_id: object) -> str | None:
    """Pay the unpaid invoice of a past-due (or incomplete) subscription again with a
    saved card; the client secret when the bank asks for 3-D Secure, else None (paid)."""
    subscription = live_subscription(student)
    invoice_id = subscription.open_provider_invoice_id
    if subscription.status not in (S.PAST_DUE, S.INCOMPLETE) or not invoice_id:
        raise Conflict("Your subscription has nothing to pay.", code="nothing_to_pay")
    method = own_payment_method(student, payment_method_id)
    provider = get_provider()
    provider.set_default_payment_method(ensure_customer(student), method.provider_method_id)
    try:
        invoice = provider.pay_invoice(invoice_id, payment_method=method.provider_method_id)
    except CardDeclined as exc:
        raise Conflict(exc.message or DECLINED, code="card_declined") from exc
    except ProviderRejected as exc:  # Stripe refuses to pay an invoice that needs 3-D Secure
        if exc.provider_code != "invoice_payment_intent_requires_action":
            raise
        invoice = provider.retrieve_invoice(invoice_id)
    if invoice.get("status") != "paid":
        intent = provider.invoice_payment_intent(invoice)
        if intent is not None and intent.needs_action:
            return intent.client_secret
        message = (intent.error_message if intent is not None else None) or DECLINED
        raise Conflict(message, code="card_declined")
    renew_subscription(subscription, invoice)
    refresh_subscription(subscription)
    return None


def pending_client_secret(subscription: Subscription) -> str | None:
    """While the first payment waits for 3-D Secure, the client secret Stripe.js needs."""
    if subscription.status != S.INCOMPLETE or not subscription.open_provider_invoice_id:
        return None
    provider = get_provider()
    intent = provider.invoice_payment_intent(
        provider.retrieve_invoice(subscription.open_provider_invoice_id)
    )
    return intent.client_secret if intent is not None and intent.needs_action else None


def refresh_subscription(subscription: Subscription) -> Subscription:
    """Ask Stripe for the subscription's state and apply it, with its latest invoice
    if that is paid (after 3-D Secure in the browser, or from the hourly sync)."""
    obj = get_provider().retrieve_subscription(subscription.provider_subscription_id)
    apply_provider_subscription(subscription, obj)
    latest = obj.get("latest_invoice")
    if isinstance(latest, dict) and latest.get("status") == "paid":
        renew_subscription(subscription, latest)
    return subscription
