"""Lesson payments: intents, server-side confirmation, the success path, refunds, saved cards.

Every public function is one unit of work: it adds and flushes, the view or task commits.
Provider calls happen inside that unit of work. If one fails the caller rolls back and
nothing is written; the idempotency keys are derived from rows that exist before the
call (the lesson and its attempt number, the payment and its refund number), so a retry
after a rollback replays the same provider request instead of creating a second one.

Locks: a change to a payment locks its lesson's row, then the payment's row, in that
order everywhere (cancelling a lesson locks the lesson first too), so two confirmations,
a confirmation and a webhook, or a refund and a cancellation never interleave.

The success path is `mark_payment_succeeded`: the confirm call, the Checkout return page
and the webhook all end there, and only the first of them changes anything.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app

from portal.accounts.models import Role, User
from portal.bookings.models import Booking, BookingStatus
from portal.db import parse_id, utcnow
from portal.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationError
from portal.extensions import db
from portal.money import AmountError, check_amount, format_money, split_fee, split_refund
from portal.payments.models import (
    COLLECTED_STATUSES,
    REFUNDABLE_STATUSES,
    UNPAID_REFUND_STATUSES,
    Payment,
    PaymentMethod,
    PaymentStatus,
    PaymentType,
    Refund,
    RefundStatus,
)
from portal.payments.signals import (
    payment_failed,
    payment_refunded,
    payment_succeeded,
    refund_reversed,
)
from portal.providers import get_provider
from portal.providers.base import (
    CardDeclined,
    ProviderIntent,
    ProviderObjectMissing,
    ProviderRefund,
    ProviderRejected,
    ProviderSetupIntent,
)
from portal.validation import check_request_key

log = logging.getLogger(__name__)

# Payment and refund uuids are derived from their idempotency keys, so a replayed
# request carries the same metadata as the first one (Stripe compares parameters).
KEY_NAMESPACE = uuid.UUID("5f0c7a52-8d1e-4e55-9a57-6f0d0b1c2e3a")
_PROVIDER_ID_RE = re.compile(r"^(pm|tok|card|src)_[A-Za-z0-9_]{1,250}$")
_SETUP_INTENT_RE = re.compile(r"^seti_[A-Za-z0-9_]{1,250}$")
MAX_REASON_LENGTH = 500
LOCKED_PAYMENTS = "portal_locked_payments"


@dataclass
class PaymentStep:
    """Where a payment stands after a call, with what the browser needs for the next step."""

    payment: Payment
    client_secret: str | None = None
    redirect_url: str | None = None
    created: bool = False


# Lookups


def get_payment_for(user: User, payment_id: object) -> Payment:
    """The payment if `user` may see it (payer, the lesson's tutor, or an admin), else 404."""
    query = visible_payments(user).where(Payment.uuid == _parse_uuid(payment_id))
    payment = db.session.scalar(query)
    if payment is None:
        raise NotFound("No such payment.")
    return payment


def _parse_uuid(payment_id: object) -> uuid.UUID:
    try:
        return payment_id if isinstance(payment_id, uuid.UUID) else uuid.UUID(str(payment_id))
    except ValueError:
        raise NotFound("No such payment.") from None


def visible_payments(user: User) -> sa.Select:
    """The payments `user` may see, newest first."""
    query = (
        sa.select(Payment)
        .options(so.selectinload(Payment.booking).joinedload(Booking.tutor))
        .order_by(Payment.created_at.desc(), Payment.id.desc())
    )
    if user.role == Role.STUDENT:
        return query.where(Payment.payer_id == user.id)
    if user.role == Role.TUTOR:
        return query.where(Payment.recipient_id == user.id)
    return query


def pending_payment_for(booking_id: int) -> Payment | None:
    return db.session.scalar(
        sa.select(Payment).where(
            Payment.booking_id == booking_id, Payment.status == PaymentStatus.PENDING
        )
    )


def lock_payment(payment: Payment) -> Payment:
    """Lock the payment's lesson, then the payment, and reload both from the database.

    Once per transaction: after that the rows are ours until it ends, so a second call
    (the success path after the confirm call locked) costs nothing.
    """
    if payment.id in db.session.info.get(LOCKED_PAYMENTS, ()):
        return payment
    return _lock(_LOCK_BY_ID, {"payment_id": payment.id})


def lock_payment_of_payer(user: User, payment_id: object) -> Payment:
    """`lock_payment` for the payment `user` paid (or is paying), found by uuid; else 404."""
    params = {"payment_uuid": _parse_uuid(payment_id), "payer_id": user.id}
    locked = _lock(_LOCK_OF_PAYER, params)
    if locked is None:
        raise NotFound("No such payment.")
    return locked


def _locking(*where) -> tuple[sa.Select, sa.Select]:
    """Lock the lesson first, then the payment: the order every payment path takes."""
    lesson_id = sa.select(Payment.booking_id).where(*where).scalar_subquery()
    lesson = (
        sa.select(Booking)
        .where(Booking.id == lesson_id)
        .with_for_update(of=Booking)
        .options(so.lazyload("*"))
        .execution_options(populate_existing=True)
    )
    payment = (
        sa.select(Payment)
        .where(*where)
        .with_for_update(of=Payment)
        .execution_options(populate_existing=True)
    )
    return lesson, payment


# Built once: on the payment path composing a statement costs more than running it.
_LOCK_BY_ID = _locking(Payment.id == sa.bindparam("payment_id"))
_LOCK_OF_PAYER = _locking(
    Payment.uuid == sa.bindparam("payment_uuid"), Payment.payer_id == sa.bindparam("payer_id")
)


def _lock(statements: tuple[sa.Select, sa.Select], params: dict) -> Payment | None:
    lesson_statement, payment_statement = statements
    booking = db.session.scalars(lesson_statement, params).one_or_none()
    payment = db.session.scalars(payment_statement, params).one_or_none()
    if payment is None:
        return None
    # The lesson was just loaded: spare `payment.booking` a second query.
    so.attributes.set_committed_value(payment, "booking", booking)
    db.session.info.setdefault(LOCKED_PAYMENTS, set()).add(payment.id)
    return payment


@sa.event.listens_for(so.Session, "after_transaction_end")
def _forget_locks(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(LOCKED_PAYMENTS, None)


# Customers


def ensure_customer(user: User, *, replacing: str | None = None) -> str:
    """The user's provider customer id, created once (the user's row serializes it).

    `replacing` names a customer the provider no longer knows (deleted in its dashboard,
    or a local test server that was reset): a new customer takes its place, and the cards
    saved with the old one, gone with it, are forgotten.
    """
    if user.stripe_customer_id and user.stripe_customer_id != replacing:
        return user.stripe_customer_id
    locked = db.session.scalars(
        sa.select(User)
        .where(User.id == user.id)
        .with_for_update(of=User)
        .execution_options(populate_existing=True)
    ).one()
    if locked.stripe_customer_id and locked.stripe_customer_id != replacing:
        return locked.stripe_customer_id
    key = f"customer-user-{locked.id}-{int(locked.created_at.timestamp())}"
    if replacing:
        key = f"{key}-replacing-{replacing}"
        db.session.execute(sa.delete(PaymentMethod).where(PaymentMethod.user_id == locked.id))
    locked.stripe_customer_id = get_provider().create_customer(
        email=locked.email,
        name=locked.name,
        idempotency_key=key,
        metadata={"user_id": str(locked.id)},
    )
    db.session.flush()
    return locked.stripe_customer_id


def for_customer(user: User, call):
    """`call(customer_id)`; if the provider lost that customer, again with a new one.

    Only for calls whose one provider id is the customer, so that a missing object can
    only mean a missing customer.
    """
    customer = ensure_customer(user)
    try:
        return call(customer)
    except ProviderObjectMissing:
        log.warning(
            "customer %s of user %s is gone at the provider; replacing it", customer, user.id
        )
        return call(ensure_customer(user, replacing=customer))


# Starting a payment


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
    attempts = db.session.scalars(_ATTEMPTS, {"booking_id": booking.id}).all()
    pending = next((p for p in attempts if p.status == PaymentStatus.PENDING), None)
    if pending is not None and pending.via_checkout:
        pending = _abandon_checkout(pending)
        if pending.status in COLLECTED_STATUSES:
            return PaymentStep(pending)
        pending = None
    if pending is not None:
        return _resume_intent(pending, method)
    return _start_intent(student, booking, method, attempts=len(attempts))


_ATTEMPTS = sa.select(Payment).where(Payment.booking_id == sa.bindparam("booking_id"))


def lock_lesson_of(student: User, booking_id: object) -> Booking:
    """The student's lesson, locked (a lesson's payments are serialized on its row); else 404."""
    params = {"booking_id": require_id(booking_id, "booking_id"), "student_id": student.id}
    booking = db.session.scalars(_LOCK_LESSON_OF, params).one_or_none()
    if booking is None:
        raise NotFound("No such booking.")
    return booking


_LOCK_LESSON_OF = (
    sa.select(Booking)
    .where(
        Booking.id == sa.bindparam("booking_id"), Booking.student_id == sa.bindparam("student_id")
    )
    .with_for_update(of=Booking)
    .options(so.lazyload("*"))
    .execution_options(populate_existing=True)
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


def provider_metadata(payment: Payment) -> dict[str, str]:
    data = {"payment_uuid": str(payment.uuid), "payment_type": payment.payment_type}
    if payment.booking_id is not None:
        data["booking_id"] = str(payment.booking_id)
    return data


def _start_intent(
    student: User, booking: Booking, method: PaymentMethod | None, *, attempts: int
) -> PaymentStep:
    way = f"card-{method.id}" if method else "card"
    payment = new_lesson_payment(student, booking, attempts, way=way)
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
    _remember_card(payment, method)
    db.session.flush()
    return PaymentStep(payment, intent.client_secret, created=True)


def _resume_intent(payment: Payment, method: PaymentMethod | None) -> PaymentStep:
    provider = get_provider()
    if method is not None:
        intent = provider.update_payment_method(
            payment.provider_payment_id, payment_method=method.provider_method_id
        )
        _remember_card(payment, method)
    else:
        intent = provider.retrieve_payment_intent(payment.provider_payment_id)
    apply_intent(payment, intent)
    return PaymentStep(payment, intent.client_secret)


def _remember_card(payment: Payment, method: PaymentMethod | None) -> None:
    if method is not None:
        payment.card_brand = method.card_brand
        payment.card_last4 = method.card_last4


# Confirming


def confirm_payment(
    user: User,
    payment_id: object,
    *,
    provider_method_id: object = None,
    payment_method_id: object = None,
) -> PaymentStep:
    """Confirm a lesson payment on the server.

    With `provider_method_id` (a card just entered in Stripe.js) the card is saved and
    used; with `payment_method_id` a saved card is used; with neither, the intent is
    confirmed with the card it has, or its state is fetched (after 3-D Secure). A
    declined card ends the attempt as `failed` with the provider's message.
    """
    if provider_method_id is not None and payment_method_id is not None:
        raise ValidationError("Choose either a saved card or a new card, not both.")
    payment = lock_payment_of_payer(user, payment_id)
    if payment.status in COLLECTED_STATUSES:
        return PaymentStep(payment)
    if payment.status != PaymentStatus.PENDING:
        raise InvalidTransition(
            f"This payment attempt is {payment.status}. Start a new payment for the lesson.",
            code="payment_closed",
        )
    if payment.via_checkout:
        from portal.payments.checkout import sync_checkout_payment

        sync_checkout_payment(payment)
        return PaymentStep(payment)
    _check_lesson_still_payable(payment)
    return _confirm_pending(user, payment, provider_method_id, payment_method_id)


def _confirm_pending(user, payment, provider_method_id, payment_method_id) -> PaymentStep:
    try:
        method = _method_for_confirm(user, provider_method_id, payment_method_id)
        _remember_card(payment, method)
        intent = _confirm_at_provider(payment, method.provider_method_id if method else None)
    except CardDeclined as exc:
        mark_payment_failed(payment, code=exc.decline_code, message=exc.message)
        return PaymentStep(payment)
    # The payer confirmed it: the audit log and the ledger name them, not "system".
    apply_intent(payment, intent, actor_id=user.id)
    return PaymentStep(payment, intent.client_secret if payment.needs_action else None)


def _method_for_confirm(user, provider_method_id, payment_method_id) -> PaymentMethod | None:
    if payment_method_id is not None:
        return own_payment_method(user, payment_method_id)
    if provider_method_id is not None:
        return add_payment_method(user, provider_method_id)
    return None


def _confirm_at_provider(payment: Payment, method_id: str | None) -> ProviderIntent:
    provider = get_provider()
    intent_id = payment.provider_payment_id
    if method_id is None:
        intent = provider.retrieve_payment_intent(intent_id)
        if intent.status != "requires_confirmation":
            return intent
        return provider.confirm_payment_intent(intent_id)
    try:
        return provider.confirm_payment_intent(intent_id, payment_method=method_id)
    except ProviderRejected:
        # The intent may have moved on (paid in another tab, or by Checkout): its real
        # state decides; anything else is a genuine refusal.
        intent = provider.retrieve_payment_intent(intent_id)
        if intent.status in ("succeeded", "processing", "canceled"):
            return intent
        raise


def action_secret(payment: Payment) -> str | None:
    """The client secret Stripe.js needs to finish 3-D Secure for a payment left waiting
    for it (the student closed the bank's window, or the page)."""
    if not payment.needs_action:
        return None
    return get_provider().retrieve_payment_intent(payment.provider_payment_id).client_secret


def _check_lesson_still_payable(payment: Payment) -> None:
    booking = payment.booking
    if booking is not None and booking.status == BookingStatus.CANCELLED:
        raise InvalidTransition("This lesson was cancelled; there is nothing to pay.")


# The provider's answer, applied. The webhook handler calls these too.


def apply_intent(payment: Payment, intent: ProviderIntent, *, actor_id: int | None = None) -> None:
    """Bring a payment in line with its provider intent; repeating it changes nothing."""
    if intent.id != payment.provider_payment_id:
        raise ValueError(f"intent {intent.id} does not belong to payment {payment.uuid}")
    if intent.status == "succeeded":
        mark_payment_succeeded(payment, intent, actor_id=actor_id)
    elif intent.status == "canceled":
        mark_payment_cancelled(payment)
    elif intent.status == "requires_payment_method" and intent.error_message:
        mark_payment_failed(
            payment, code=intent.error_code or "payment_failed", message=intent.error_message
        )
    elif payment.status == PaymentStatus.PENDING:
        payment.provider_status = intent.status
        db.session.flush()


def mark_payment_succeeded(
    payment: Payment, intent: ProviderIntent | None = None, *, actor_id: int | None = None
) -> bool:
    """The one success path: the lesson is scheduled and `payment_succeeded` is sent.

    Returns False, changing nothing, when the payment already succeeded. Money the
    provider collected is recorded even if the attempt was marked failed or cancelled
    here first (a late webhook), and logged, since someone has to look at it.
    """
    payment = lock_payment(payment)
    if payment.status in COLLECTED_STATUSES:
        return False
    if intent is not None:
        _check_intent_matches(payment, intent)
        payment.provider_charge_id = intent.latest_charge
    previous = payment.status
    payment.status = PaymentStatus.SUCCEEDED
    payment.provider_status = "succeeded"
    payment.succeeded_at = utcnow()
    payment.failure_code = payment.failure_message = None
    _schedule_lesson(payment)
    db.session.flush()
    if previous != PaymentStatus.PENDING:
        log.warning("payment %s succeeded at the provider after being %s", payment.uuid, previous)
    payment_succeeded.send(payment, actor_id=actor_id, previous_status=previous)
    return True


def _check_intent_matches(payment: Payment, intent: ProviderIntent) -> None:
    if intent.amount != payment.amount or intent.currency != payment.currency:
        log.error(
            "intent %s is %s %s but payment %s is %s %s",
            intent.id,
            intent.amount,
            intent.currency,
            payment.uuid,
            payment.amount,
            payment.currency,
        )
        raise Conflict("The payment service reports a different amount; nothing was recorded.")


def _schedule_lesson(payment: Payment) -> None:
    booking = payment.booking
    if booking is None:
        return
    if booking.status == BookingStatus.PENDING_PAYMENT:
        booking.status = BookingStatus.SCHEDULED
    elif booking.status == BookingStatus.CANCELLED:
        log.warning("payment %s succeeded for cancelled lesson %s", payment.uuid, booking.id)


def mark_payment_failed(payment: Payment, *, code: str, message: str) -> bool:
    """End a pending attempt as failed with the provider's reason; False if not pending."""
    payment = lock_payment(payment)
    if payment.status != PaymentStatus.PENDING:
        return False
    payment.status = PaymentStatus.FAILED
    payment.provider_status = "requires_payment_method"
    payment.failed_at = utcnow()
    payment.failure_code = (code or "payment_failed")[:64]
    payment.failure_message = (message or "The payment did not go through.")[:500]
    db.session.flush()
    payment_failed.send(payment)
    return True


def mark_payment_cancelled(payment: Payment) -> bool:
    """End a pending attempt that was abandoned; False if not pending."""
    payment = lock_payment(payment)
    if payment.status != PaymentStatus.PENDING:
        return False
    payment.status = PaymentStatus.CANCELLED
    payment.provider_status = "canceled"
    payment.cancelled_at = utcnow()
    db.session.flush()
    return True


def abandon_pending_payment(payment: Payment) -> Payment:
    """Cancel a pending attempt at the provider and here (a lesson being cancelled, or the
    student switching between card and Checkout). If it turns out to have been paid, the
    success is recorded instead and the payment is returned as succeeded."""
    if payment.via_checkout:
        return _abandon_checkout(payment)
    provider = get_provider()
    try:
        intent = provider.cancel_payment_intent(payment.provider_payment_id)
    except ProviderRejected:
        # Already paid, or already cancelled (an earlier abandon whose transaction rolled
        # back): either way its real state is what to record.
        intent = provider.retrieve_payment_intent(payment.provider_payment_id)
        if intent.status not in ("succeeded", "canceled"):
            raise
    apply_intent(payment, intent)
    return lock_payment(payment)


def _abandon_checkout(payment: Payment) -> Payment:
    from portal.payments.checkout import expire_checkout_payment

    return expire_checkout_payment(payment)


# Refunds


def process_refund(
    actor: User,
    payment_id: object,
    *,
    amount: object = None,
    reason: object = None,
    request_key: object = None,
) -> Refund:
    """Refund a payment through the provider.

    A student refunds a paid lesson in full until REFUND_CUTOFF_HOURS before it starts;
    an admin refunds any amount up to what remains. A full refund cancels the lesson.
    With a `request_key` (the form's, or the API's Idempotency-Key) asking again returns
    the first refund: a double click refunds once.
    """
    if actor.role == Role.TUTOR:
        raise Forbidden("Tutors cannot refund payments; ask an admin.")
    payment = lock_payment(get_payment_for(actor, payment_id))
    key = None
    if request_key is not None:
        key = f"payment-{payment.uuid}-refund-{check_request_key(request_key)}"
        asked = db.session.scalar(sa.select(Refund).where(Refund.idempotency_key == key))
        if asked is not None:
            if amount is not None and amount != asked.amount:
                raise Conflict(
                    "That request key was used for another refund.", code="idempotency_conflict"
                )
            return asked
    if payment.status not in REFUNDABLE_STATUSES:
        raise InvalidTransition(_not_refundable_message(payment), code="not_refundable")
    reason_text = _check_reason(reason)
    value = _refund_amount(actor, payment, amount)
    refund = new_refund(payment, value, reason_text, requested_by=actor, key=key)
    provider_refund = get_provider().create_refund(
        payment_intent=payment.provider_payment_id,
        amount=value,
        idempotency_key=refund.idempotency_key,
        metadata={**provider_metadata(payment), "refund_uuid": str(refund.uuid)},
    )
    apply_provider_refund(payment, provider_refund, refund=refund, actor_id=actor.id)
    return refund


def _not_refundable_message(payment: Payment) -> str:
    if payment.status == PaymentStatus.REFUNDED:
        return "This payment has already been refunded in full."
    return "Only a payment that went through can be refunded."


def _check_reason(reason: object) -> str:
    if reason is None:
        return ""
    if not isinstance(reason, str):
        raise ValidationError("reason must be text.", fields={"reason": ["Must be text."]})
    reason = reason.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise ValidationError(
            "The reason is too long.", fields={"reason": [f"At most {MAX_REASON_LENGTH} chars."]}
        )
    return reason


def _refund_amount(actor: User, payment: Payment, amount: object) -> int:
    if amount is not None:
        try:
            amount = check_amount(amount)
        except AmountError as exc:
            raise ValidationError(str(exc), fields={"amount": [str(exc)]}) from None
    if actor.role == Role.STUDENT:
        problem = student_refund_problem(payment, amount)
        if problem:
            raise InvalidTransition(problem, code="refund_not_allowed")
        return payment.amount
    if amount is None:
        return payment.remaining
    if amount > payment.remaining:
        message = f"At most {format_money(payment.remaining, payment.currency)} can be refunded."
        raise ValidationError(message, fields={"amount": [message]}, code="over_remaining")
    return amount


def student_refund_problem(payment: Payment, amount: int | None = None) -> str | None:
    """Why the student may not refund this payment now, or None if they may (SPEC §5)."""
    cutoff = current_app.config["REFUND_CUTOFF_HOURS"]
    booking = payment.booking
    if payment.payment_type != PaymentType.LESSON or booking is None:
        return "Only lesson payments can be refunded here."
    if payment.status != PaymentStatus.SUCCEEDED or payment.amount_refunded:
        return "This payment has already been refunded."
    if amount is not None and amount != payment.amount:
        return "Lesson refunds are for the full amount."
    if booking.status != BookingStatus.SCHEDULED:
        return f"A {booking.status.replace('_', ' ')} lesson cannot be refunded."
    if booking.starts_at - utcnow() < timedelta(hours=cutoff):
        return (
            f"Lessons can be refunded in full until {cutoff} hours before they start; "
            "this one starts too soon."
        )
    return None


def new_refund(
    payment: Payment, amount: int, reason: str, *, requested_by: User | None, key: str | None = None
) -> Refund:
    """A pending refund row; its key (and uuid) is the request's, or else follows from the
    payment's refund count."""
    if key is None:
        count = db.session.scalar(
            sa.select(sa.func.count()).select_from(Refund).where(Refund.payment_id == payment.id)
        )
        key = f"payment-{payment.uuid}-refund-{count + 1}"
    refund = Refund(
        uuid=uuid.uuid5(KEY_NAMESPACE, key),
        payment_id=payment.id,
        amount=amount,
        currency=payment.currency,
        status=RefundStatus.PENDING,
        reason=reason,
        idempotency_key=key,
        requested_by_id=requested_by.id if requested_by else None,
    )
    db.session.add(refund)
    db.session.flush()
    return refund


def apply_provider_refund(
    payment: Payment,
    provider_refund: ProviderRefund,
    *,
    refund: Refund | None = None,
    actor_id: int | None = None,
) -> Refund:
    """Record a provider refund once: split it, update the payment, send `payment_refunded`.

    `refund` is our row when we asked for it; a refund made elsewhere (the provider's
    dashboard, reported by webhook) gets a row here. Seeing the same provider refund
    again changes nothing.
    """
    payment = lock_payment(payment)
    status = refund_status(provider_refund.status)
    # Read again under the payment's lock: a copy loaded earlier may predate another
    # worker's change to the same refund.
    known = db.session.scalar(
        sa.select(Refund)
        .where(Refund.provider_refund_id == provider_refund.id)
        .execution_options(populate_existing=True)
    )
    if known is not None:
        _follow_refund(payment, known, status, actor_id=actor_id)
        return known
    if refund is None:
        refund = new_refund(
            payment, provider_refund.amount, "Refunded at the payment provider", requested_by=None
        )
    refund.provider_refund_id = provider_refund.id
    refund.status = status
    if status in UNPAID_REFUND_STATUSES:
        refund.failed_at = utcnow()
        db.session.flush()
        return refund
    _book_refund(payment, refund, provider_refund.amount)
    db.session.flush()
    payment_refunded.send(payment, refund=refund, actor_id=actor_id)
    return refund


def refund_status(value: str) -> RefundStatus:
    """The provider's refund status in our terms: one waiting for the payer's bank
    (Stripe's `requires_action`) is still pending."""
    try:
        return RefundStatus(value)
    except ValueError:
        return RefundStatus.PENDING


def _follow_refund(payment: Payment, refund: Refund, status: RefundStatus, *, actor_id) -> None:
    """A refund we recorded moved on at the provider: it went through, or it failed.

    Failed and canceled are final at the provider. A recorded refund that fails is
    undone: the payment counts it no longer and `refund_reversed` gives the tutor their
    share back. A lesson the refund cancelled stays cancelled; the payer is still owed
    the money, which an admin refunds again from the payment's page.
    """
    if refund.status == status or refund.status in UNPAID_REFUND_STATUSES:
        return
    if refund.status == RefundStatus.SUCCEEDED and status == RefundStatus.PENDING:
        return  # a stale list read before the success was recorded
    refund.status = status
    if status not in UNPAID_REFUND_STATUSES:
        db.session.flush()
        return
    refund.failed_at = utcnow()
    # Safe read-modify-write: the payment row is locked (lock_payment).
    payment.amount_refunded -= refund.amount
    payment.fee_refunded -= refund.fee_part
    payment.status = (
        PaymentStatus.PARTIALLY_REFUNDED if payment.amount_refunded else PaymentStatus.SUCCEEDED
    )
    db.session.flush()
    refund_reversed.send(payment, refund=refund, actor_id=actor_id)


def _book_refund(payment: Payment, refund: Refund, amount: int) -> None:
    if amount != refund.amount:
        raise Conflict("The payment service refunded a different amount; nothing was recorded.")
    try:
        split = split_refund(
            amount,
            amount=payment.amount,
            fee=payment.platform_fee,
            refunded=payment.amount_refunded,
            fee_refunded=payment.fee_refunded,
        )
    except ValueError:
        raise Conflict("That is more than remains of the payment.", code="over_remaining") from None
    refund.fee_part, refund.net_part = split.fee, split.net
    # Safe read-modify-write: the payment row is locked (lock_payment).
    payment.amount_refunded += amount
    payment.fee_refunded += split.fee
    payment.refunded_at = utcnow()
    if payment.remaining == 0:
        payment.status = PaymentStatus.REFUNDED
        _cancel_lesson_after_refund(payment)
    else:
        payment.status = PaymentStatus.PARTIALLY_REFUNDED


def _cancel_lesson_after_refund(payment: Payment) -> None:
    booking = payment.booking
    if booking is not None and booking.status in (
        BookingStatus.PENDING_PAYMENT,
        BookingStatus.SCHEDULED,
    ):
        booking.status = BookingStatus.CANCELLED
        booking.cancelled_at = utcnow()


# Saved cards


def own_payment_method(user: User, method_id: object) -> PaymentMethod:
    """The user's saved card; anybody else's (or a missing one) is a 404."""
    params = {"method_id": require_id(method_id, "payment_method_id"), "user_id": user.id}
    method = db.session.scalar(_OWN_PAYMENT_METHOD, params)
    if method is None:
        raise NotFound("No such saved card.")
    return method


_OWN_PAYMENT_METHOD = sa.select(PaymentMethod).where(
    PaymentMethod.id == sa.bindparam("method_id"), PaymentMethod.user_id == sa.bindparam("user_id")
)


def payment_methods_query(user: User) -> sa.Select:
    """The user's saved cards, the default first, then the newest."""
    return (
        sa.select(PaymentMethod)
        .where(PaymentMethod.user_id == user.id)
        .order_by(PaymentMethod.is_default.desc(), PaymentMethod.id.desc())
    )


def payment_methods_of(user: User) -> list[PaymentMethod]:
    return list(db.session.scalars(payment_methods_query(user)))


def add_payment_method(
    user: User, provider_method_id: object, *, make_default: bool = False
) -> PaymentMethod:
    """Save a card the browser collected (a Stripe.js payment method or token id)."""
    require_student(user)
    method_id = _check_provider_method_id(provider_method_id)
    existing = _method_by_provider_id(method_id, user)
    if existing is not None:
        return existing
    customer = ensure_customer(user)
    try:
        card = get_provider().attach_payment_method(
            method_id, customer=customer, idempotency_key=f"attach-{customer}-{method_id}"
        )
    except ProviderObjectMissing:
        raise ValidationError(
            "The payment service does not know that card. Enter it again.",
            fields={"provider_method_id": ["Unknown card."]},
        ) from None
    existing = _method_by_provider_id(card.id, user)
    if existing is not None:
        return existing
    _lock_user(user)
    has_default = _default_method(user) is not None
    method = PaymentMethod(
        user_id=user.id,
        provider_method_id=card.id,
        card_brand=card.brand[:20],
        card_last4=card.last4[-4:],
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        is_default=not has_default,
    )
    db.session.add(method)
    db.session.flush()
    if make_default or not has_default:
        _make_default(user, method)
    return method


def remove_payment_method(user: User, method_id: object) -> None:
    """Detach a saved card at the provider and forget it; the next newest becomes default."""
    method = own_payment_method(user, method_id)
    _lock_user(user)
    try:
        get_provider().detach_payment_method(
            method.provider_method_id, customer=user.stripe_customer_id or ""
        )
    except ProviderObjectMissing:
        log.info("card %s was already gone at the provider", method.id)
    was_default = method.is_default
    db.session.delete(method)
    db.session.flush()
    if was_default:
        successor = db.session.scalar(
            sa.select(PaymentMethod)
            .where(PaymentMethod.user_id == user.id)
            .order_by(PaymentMethod.id.desc())
            .limit(1)
        )
        if successor is not None:
            _make_default(user, successor)


def set_default_payment_method(user: User, method_id: object) -> PaymentMethod:
    """Make a saved card the one preselected here and charged by default at the provider."""
    method = own_payment_method(user, method_id)
    _lock_user(user)
    if not method.is_default:
        _make_default(user, method)
    return method


def _make_default(user: User, method: PaymentMethod) -> None:
    db.session.execute(
        sa.update(PaymentMethod)
        .where(PaymentMethod.user_id == user.id, PaymentMethod.id != method.id)
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )
    db.session.flush()
    method.is_default = True
    db.session.flush()
    get_provider().set_default_payment_method(ensure_customer(user), method.provider_method_id)


def _default_method(user: User) -> PaymentMethod | None:
    return db.session.scalar(
        sa.select(PaymentMethod).where(
            PaymentMethod.user_id == user.id, PaymentMethod.is_default.is_(True)
        )
    )


def _method_by_provider_id(method_id: str, user: User) -> PaymentMethod | None:
    method = db.session.scalar(
        sa.select(PaymentMethod).where(PaymentMethod.provider_method_id == method_id)
    )
    if method is not None and method.user_id != user.id:
        raise NotFound("No such card.")
    return method


def start_card_setup(user: User) -> ProviderSetupIntent:
    """A SetupIntent for Stripe.js `confirmCardSetup`, which handles 3-D Secure on saving.

    It has no row of its own: the random key still lets the library retry the call safely.
    """
    require_student(user)
    return for_customer(
        user,
        lambda customer: get_provider().create_setup_intent(
            customer=customer, idempotency_key=f"setup-{user.id}-{uuid.uuid4()}"
        ),
    )


def finish_card_setup(user: User, setup_intent_id: object) -> PaymentMethod:
    """Save the card of a SetupIntent the user confirmed in the browser."""
    require_student(user)
    if not isinstance(setup_intent_id, str) or not _SETUP_INTENT_RE.match(setup_intent_id):
        raise ValidationError(
            "That card setup is not valid.", fields={"setup_intent_id": ["Not a card setup."]}
        )
    try:
        setup = get_provider().retrieve_setup_intent(setup_intent_id)
    except ProviderObjectMissing:
        raise NotFound("No such card setup.") from None
    if not user.stripe_customer_id or setup.customer != user.stripe_customer_id:
        raise NotFound("No such card setup.")
    if setup.status != "succeeded" or not setup.payment_method:
        raise InvalidTransition("The card was not confirmed. Enter it again.")
    return add_payment_method(user, setup.payment_method)


# Checks shared by the functions above


def require_student(user: User) -> None:
    if user.role != Role.STUDENT:
        raise Forbidden("Only students pay for lessons.")


def require_id(value: object, name: str) -> int:
    checked = parse_id(value)
    if checked is None:
        raise ValidationError(f"{name} must be an id.", fields={name: ["Must be an id."]})
    return checked


def _check_provider_method_id(value: object) -> str:
    if not isinstance(value, str) or not _PROVIDER_ID_RE.match(value):
        raise ValidationError(
            "That is not a card from the payment form.",
            fields={"provider_method_id": ["Must be a Stripe payment method or token id."]},
        )
    return value


def _lock_user(user: User) -> None:
    db.session.execute(sa.select(User.id).where(User.id == user.id).with_for_update())
