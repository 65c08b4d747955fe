"""Payout test helpers: encryption keys, money to pay out, destinations, Stripe transfers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet

from portal.bookings.models import BookingStatus
from portal.db import utcnow
from portal.extensions import db
from portal.money import split_fee
from portal.payouts import destinations
from portal.providers import EXTENSION_KEY
from portal.providers.stripe import StripeProvider
from portal.wallets.adjustments import credit_wallet
from portal.wallets.earnings import process_lesson_earning, release_pending_earnings
from portal.wallets.summary import get_wallet_summary
from tests import factories
from tests.support.stripe_transfers import TransferServer

KEY = Fernet.generate_key().decode()
IBAN = "DE89370400440532013000"
STRIPE_ACCOUNT = "acct_1QUwQ2PxbDsyrmbL"


@pytest.fixture(autouse=True)
def field_keys(app, monkeypatch):
    monkeypatch.setitem(app.config, "FIELD_ENCRYPTION_KEYS", KEY)


def figures(tutor_id: int) -> dict:
    s = get_wallet_summary(tutor_id)
    return {"available": s.available, "in_flight": s.in_flight, "withdrawn": s.total_withdrawn}


def earn(tutor, lesson_price: int = 4500, *, lessons: int = 1) -> int:
    """The tutor teaches paid lessons, completed 8 days ago, and the earnings are released.

    Returns the net that became available.
    """
    total = 0
    for _ in range(lessons):
        booking = factories.BookingFactory(
            tutor=tutor, status=BookingStatus.COMPLETED, price=lesson_price,
            starts_at=utcnow() - timedelta(days=9),
        )  # fmt: skip
        booking.completed_at = utcnow() - timedelta(days=8)
        split = split_fee(lesson_price)
        process_lesson_earning(
            tutor_id=tutor.id, gross=split.amount, fee=split.fee,
            idempotency_key=f"test:booking:{booking.id}:earned", booking_id=booking.id,
        )  # fmt: skip
        total += split.net
    release_pending_earnings()
    db.session.commit()
    return total


def credit(tutor, amount: int) -> None:
    """Money straight into available (an admin credit), for tests about other things."""
    credit_wallet(
        tutor_id=tutor.id, amount=amount, reason="test money",
        idempotency_key=f"test:credit:{tutor.id}:{amount}:{utcnow().timestamp()}",
    )  # fmt: skip
    db.session.commit()


def with_bank(tutor, iban: str = IBAN) -> None:
    destinations.update_bank_details(
        tutor.id, bank_account_holder=tutor.name, bank_name="Commerzbank", bank_iban=iban
    )
    db.session.commit()


def with_stripe(tutor, account: str = STRIPE_ACCOUNT) -> None:
    destinations.update_bank_details(tutor.id, stripe_account_id=account)
    db.session.commit()


@pytest.fixture
def bank_tutor(tutor):
    with_bank(tutor)
    return tutor


@pytest.fixture
def stripe_tutor(tutor):
    with_stripe(tutor)
    return tutor


class Isolated:
    """A signed-in browser whose every request runs in its own app context.

    Requests in a test otherwise share the test's app context, and with it Flask-Login's
    cached user: the second person signing in would still be the first.
    """

    def __init__(self, app, session):
        self.app, self.session = app, session
        self.user = session.user

    def _in_context(self, method, *args, **kwargs):
        with self.app.app_context():
            return getattr(self.session, method)(*args, **kwargs)

    def get(self, *args, **kwargs):
        return self._in_context("get", *args, **kwargs)

    def post(self, *args, **kwargs):
        return self._in_context("post", *args, **kwargs)

    def api(self, *args, **kwargs):
        return self._in_context("api", *args, **kwargs)


@pytest.fixture
def browser(app, login):
    """`browser(user)` → a signed-in `Isolated` session; several people may act in one test."""

    def _browser(user):
        with app.app_context():
            return Isolated(app, login(user))

    return _browser


@pytest.fixture
def transfers(app, monkeypatch):
    """Stripe's transfer API (recorded answers) with the portal's provider pointed at it."""
    server = TransferServer().start()
    config = dict(app.config, STRIPE_API_BASE=server.url, STRIPE_MAX_NETWORK_RETRIES=0)
    monkeypatch.setitem(app.extensions, EXTENSION_KEY, StripeProvider.from_config(config))
    yield server
    server.stop()
