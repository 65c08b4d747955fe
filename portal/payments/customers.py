"""The payer's customer at the payment provider: created once, replaced if it is lost."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from portal.accounts.models import User
from portal.extensions import db
from portal.payments.models import PaymentMethod
from portal.providers import get_provider
from portal.providers.base import ProviderObjectMissing

log = logging.getLogger(__name__)


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
