"""Confirming a lesson payment on the server: with a new card, a saved card, or the card
the intent already has (after 3-D Secure); a declined card ends the attempt as failed."""

from __future__ import annotations

from portal.accounts.models import User
from portal.bookings.models import BookingStatus
from portal.errors import InvalidTransition, ValidationError
from portal.payments.cards import add_payment_method, own_payment_method
from portal.payments.intents import PaymentStep, remember_card
from portal.payments.invoice_payments import check_invoice_still_payable
from portal.payments.lookups import lock_payment_of_payer
from portal.payments.models import COLLECTED_STATUSES, Payment, PaymentMethod, PaymentStatus
from portal.payments.outcome import apply_intent, mark_payment_failed, sync_checkout_payment
from portal.providers import get_provider
from portal.providers.base import CardDeclined, ProviderIntent, ProviderRejected


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
        sync_checkout_payment(payment)
        return PaymentStep(payment)
    _check_lesson_still_payable(payment)
    check_invoice_still_payable(payment)
    return _confirm_pending(user, payment, provider_method_id, payment_method_id)


def _confirm_pending(user, payment, provider_method_id, payment_method_id) -> PaymentStep:
    try:
        method = _method_for_confirm(user, provider_method_id, payment_method_id)
        remember_card(payment, method)
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
