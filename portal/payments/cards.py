"""Saved cards: adding one (directly, or through a SetupIntent for 3-D Secure), choosing
the default, removing one. The provider holds the card; we keep what may be shown."""

from __future__ import annotations

import logging
import re
import uuid

import sqlalchemy as sa

from portal.accounts.models import User
from portal.errors import InvalidTransition, NotFound, ValidationError
from portal.extensions import db
from portal.payments.customers import ensure_customer, for_customer
from portal.payments.lookups import require_id, require_student
from portal.payments.models import PaymentMethod
from portal.providers import get_provider
from portal.providers.base import ProviderObjectMissing, ProviderSetupIntent

log = logging.getLogger(__name__)
_PROVIDER_ID_RE = re.compile(r"^(pm|tok|card|src)_[A-Za-z0-9_]{1,250}$")
_SETUP_INTENT_RE = re.compile(r"^seti_[A-Za-z0-9_]{1,250}$")


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


def _check_provider_method_id(value: object) -> str:
    if not isinstance(value, str) or not _PROVIDER_ID_RE.match(value):
        raise ValidationError(
            "That is not a card from the payment form.",
            fields={"provider_method_id": ["Must be a Stripe payment method or token id."]},
        )
    return value


def _lock_user(user: User) -> None:
    db.session.execute(sa.select(User.id).where(User.id == user.id).with_for_update())
