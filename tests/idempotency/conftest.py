"""Idempotency test helpers: a tutor with money to adjust, and the rows the keys leave."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from portal.extensions import db
from portal.idempotency.models import IdempotencyKey
from portal.invoices.models import Invoice
from portal.wallets.adjustments import credit_wallet
from portal.wallets.models import WalletTransaction
from portal.wallets.summary import get_wallet_summary
from tests.subscriptions.recorded_support import eight, four  # noqa: F401

# Plans and cards at localstripe, and Stripe's recorded plan changes (localstripe has none).
from tests.subscriptions.stripe_support import card_holder, stripe_plan  # noqa: F401
from tests.support.stripe_replay import stripe_replay  # noqa: F401

ADJUST = "/api/v1/admin/wallets/{}/adjustments/"
INVOICES = "/api/v1/admin/invoices/"


@pytest.fixture(autouse=True)
def field_keys(app, monkeypatch):
    monkeypatch.setitem(app.config, "FIELD_ENCRYPTION_KEYS", Fernet.generate_key().decode())


@pytest.fixture
def funded_tutor(tutor):
    credit_wallet(tutor_id=tutor.id, amount=5000, reason="Start", idempotency_key="test:start")
    db.session.commit()
    return tutor


def available(tutor_id: int) -> int:
    db.session.expire_all()
    return get_wallet_summary(tutor_id).available


def lines() -> int:
    """How many statement lines there are (the start credit and one per adjustment)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(WalletTransaction))


def invoices() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Invoice))


def keys() -> list[IdempotencyKey]:
    db.session.expire_all()
    return db.session.scalars(sa.select(IdempotencyKey).order_by(IdempotencyKey.id)).all()
