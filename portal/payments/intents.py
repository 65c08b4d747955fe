"""Starting to pay a lesson with the card form: the attempt's row and its payment intent.

An attempt is a `Payment` row, flushed before the provider is asked for an intent, with
an idempotency key that names the lesson, the attempt number and the way it is paid.
Asked again for the same unpaid lesson it answers the attempt already under way; an open
Checkout attempt is closed first, so a lesson never has two live ways to be charged.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from portal.accounts.models import User
from portal.bookings.models import Booking, BookingStatus
from portal.errors import Conflict, InvalidTransition, ValidationError
from portal.extensions import db
from portal.money import split_fee
from portal.payments.cards import own_payment_method
from portal.payments.customers import ensure_customer, for_customer
from portal.payments.lookups import (
    KEY_NAMESPACE,
    lock_lesson_of,
    provider_metadata,
    require_student,
)
from portal.payments.models import (
    COLLECTED_STATUSES,
    Payment,
    PaymentMethod,
    PaymentStatus,
    PaymentType,
)
from portal.payments.outcome import apply_intent, expire_checkout_payment
from portal.providers import get_provider
from portal.providers.base import ProviderIntent


@dataclass
class PaymentStep:
    """Where a payment stands after a call, with what the browser needs for the next step."""

    payment: Payment
    client_secret: str | None = None
    redirect_url: str | None = None
    created: bool = False


def create_payment_intent(
    student: User, booking_id: object, *, payment_method_id: object = None
) -> PaymentStep:
    """Start paying for a lesson, or resume the attempt already under way.

    The amount is the lesson's price; nothing the client sends changes it. Asked again
    for the same unpaid lesson it answers the same payment.
    """
    require_student(student)
    booking = lock_lesson_of(student, booking_id)
    method = None if payment_method_id is None else own_payment_method(student, payment_method_id)
    check_payable(booking)
    # A statement of its own, after the lock: read in the locking statement (a join), the
    # attempts would come from its snapshot, taken before a concurrent request's attempt
    # committed, and both requests would insert attempt number N.
    attempts = db.session.scalars(_ATTEMPTS, {"booking_id": booking.id}).all()
    pending = next((p for p in attempts if p.status == PaymentStatus.PENDING), None)
    if pending is not None and pending.via_checkout:
        pending = expire_checkout_payment(pending)
        if pending.status in COLLECTED_STATUSES:
            return PaymentStep(pending)
        pending = None
    if pending is not None:
        return resume_intent(pending, method)
    return _start_intent(student, booking, method, attempts=len(attempts))


_ATTEMPTS = sa.select(Payment).where(Payment.booking_id == sa.bindparam("booking_id"))


def require_platform_currency(currency: str | None) -> None:
    """A currency a client names (any case) must be the platform's; none is fine."""
    platform = current_app.config["PLATFORM_CURRENCY"]
    if currency is not None and currency.lower() != platform:
        raise ValidationError(
            f"Payments are taken in {platform.upper()} only.",
            fields={"currency": [f"Must be {platform}."]},
            code="currency_not_supported",
        )


def check_payable(booking: Booking) -> None:
    """Refuse a lesson that is not waiting for a card payment from its student."""
    if booking.subscription_id is not None:
        raise Conflict(
            "This lesson is covered by your subscription; there is nothing to pay.",
            code="covered_by_subscription",
        )
    if booking.status == BookingStatus.CANCELLED:
        raise InvalidTransition("This lesson was cancelled; there is nothing to pay.")
    if booking.status != BookingStatus.PENDING_PAYMENT:
        raise InvalidTransition("This lesson is already paid.", code="already_paid")
    if booking.has_started:
        raise InvalidTransition("This lesson has already started and can no longer be paid.")
    platform = current_app.config["PLATFORM_CURRENCY"]
    if booking.currency != platform:
        raise ValidationError(
            f"Payments are taken in {platform.upper()} only.", code="currency_not_supported"
        )
    if booking.price <= 0:
        raise Conflict("This lesson is free; there is nothing to pay.", code="nothing_to_pay")


def attempt_key(
    booking: Booking, attempts: int | None = None, *, way: str
) -> tuple[str, uuid.UUID]:
    """The idempotency key and uuid of the lesson's next payment attempt.

    `way` names how it is paid (a saved card, a new card, Checkout): an attempt whose
    answer was lost is asked again with the same key, but one made another way is a
    different request, which Stripe would refuse under the same key.
    """
    if attempts is None:
        attempts = db.session.scalar(
            sa.select(sa.func.count()).select_from(Payment).where(Payment.booking_id == booking.id)
        )
    created = int(booking.created_at.timestamp())
    key = f"lesson-{booking.id}-{created}-attempt-{attempts + 1}-{way}"
    return key, uuid.uuid5(KEY_NAMESPACE, key)


def new_lesson_payment(
    student: User, booking: Booking, attempts: int | None = None, *, way: str
) -> Payment:
    """A pending payment row for the lesson's price, flushed before any provider call."""
    key, payment_uuid = attempt_key(booking, attempts, way=way)
    split = split_fee(booking.price)
    payment = Payment(
        uuid=payment_uuid,
        payer_id=student.id,
        recipient_id=booking.tutor_id,
        payment_type=PaymentType.LESSON,
        status=PaymentStatus.PENDING,
        amount=split.amount,
        currency=booking.currency,
        platform_fee=split.fee,
        net_amount=split.net,
        idempotency_key=key,
        booking_id=booking.id,
    )
    db.session.add(payment)
    db.session.flush()
    return payment


def _start_intent(
    student: User, booking: Booking, method: PaymentMethod | None, *, attempts: int
) -> PaymentStep:
    """A new attempt for the lesson, and its intent at the provider."""
    payment = new_lesson_payment(student, booking, attempts, way=card_way(method))
    return open_intent(student, payment, method)


def card_way(method: PaymentMethod | None) -> str:
    """How an attempt is paid, for its idempotency key: a saved card, or a new one."""
    return f"card-{method.id}" if method else "card"


def open_intent(student: User, payment: Payment, method: PaymentMethod | None) -> PaymentStep:
    """Create the provider intent of a payment row just flushed, for the student's customer."""
    first_customer = ensure_customer(student)

    def create(customer: str) -> ProviderIntent:
        if customer != first_customer:
            # For a replaced customer it is a new request, with its own key, stored first.
            payment.idempotency_key = f"{payment.idempotency_key}-for-{customer}"
            db.session.flush()
        return get_provider().create_payment_intent(
            amount=payment.amount,
            currency=payment.currency,
            customer=customer,
            idempotency_key=payment.idempotency_key,
            payment_method=method.provider_method_id if method else None,
            metadata=provider_metadata(payment),
        )

    # A saved card lives on the customer: if the customer is gone, so is the card.
    intent = create(first_customer) if method else for_customer(student, create)
    payment.provider_payment_id = intent.id
    payment.provider_status = intent.status
    remember_card(payment, method)
    db.session.flush()
    return PaymentStep(payment, intent.client_secret, created=True)


def resume_intent(payment: Payment, method: PaymentMethod | None) -> PaymentStep:
    """The attempt already under way, with the saved card chosen now if any."""
    provider = get_provider()
    if method is not None:
        intent = provider.update_payment_method(
            payment.provider_payment_id, payment_method=method.provider_method_id
        )
        remember_card(payment, method)
    else:
        intent = provider.retrieve_payment_intent(payment.provider_payment_id)
    apply_intent(payment, intent)
    return PaymentStep(payment, intent.client_secret)


def remember_card(payment: Payment, method: PaymentMethod | None) -> None:
    if method is not None:
        payment.card_brand = method.card_brand
        payment.card_last4 = method.card_last4
