"""Story tests for money: what a payment and its refunds do to the tutor's wallet, told
as the student and the admin live them, and checked against the ledger's invariants."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.bookings import services as bookings
from portal.books.checks import check_invariants
from portal.db import utcnow
from portal.extensions import db
from portal.ledger.accounts import platform_balances
from portal.ledger.models import LedgerEntry
from portal.payments import outcome, refunds
from portal.payments.effects import earning_key
from portal.providers import get_provider
from portal.providers.base import ProviderRefund
from portal.wallets.earnings import release_pending_earnings
from portal.wallets.movement import get_wallet

pytestmark = pytest.mark.stripe


def _wallet(tutor):
    wallet = get_wallet(tutor.id)
    db.session.refresh(wallet)
    return wallet


def _platform() -> dict[str, int]:
    """The balances of the two platform accounts a lesson payment touches."""
    wanted = ("provider_cash", "fee_revenue")
    return {a.code: balance for a, balance in platform_balances() if a.code in wanted}


def _entries(key_prefix: str) -> list[LedgerEntry]:
    return list(
        db.session.scalars(
            sa.select(LedgerEntry).where(LedgerEntry.idempotency_key.startswith(key_prefix))
        )
    )


def test_a_paid_lesson_puts_the_tutors_net_into_pending(student, tutor, lesson, pay):
    payment = pay(student, lesson)

    wallet = _wallet(tutor)
    assert (wallet.pending, wallet.available, wallet.total_earned) == (3825, 0, 3825)
    [entry] = _entries(f"payment:{payment.uuid}:captured")
    assert (entry.payment_id, entry.booking_id, entry.tutor_id) == (payment.id, lesson.id, tutor.id)
    assert check_invariants() == []


def test_refund_before_the_lesson_takes_pending_back_and_reverses_the_fee(
    student, tutor, lesson, pay
):
    payment = pay(student, lesson)
    assert _platform() == {"provider_cash": 4500, "fee_revenue": 675}
    refund = refunds.process_refund(student, payment.uuid)
    db.session.commit()

    wallet = _wallet(tutor)
    assert (wallet.pending, wallet.available, wallet.total_earned) == (0, 0, 0)
    # The provider gave the whole 45.00 back, and the platform its 6.75 fee.
    assert _platform() == {"provider_cash": 0, "fee_revenue": 0}
    assert _entries(f"refund:{refund.provider_refund_id}")
    assert check_invariants() == []


def test_partial_refunds_after_release_come_out_of_available(student, tutor, admin, lesson, pay):
    payment = pay(student, lesson)
    bookings.complete_booking(admin, lesson.id)
    db.session.commit()
    release_pending_earnings(now=utcnow() + timedelta(days=8))
    db.session.commit()
    assert (_wallet(tutor).pending, _wallet(tutor).available) == (0, 3825)

    refunds.process_refund(admin, payment.uuid, amount=1001)
    refunds.process_refund(admin, payment.uuid)
    db.session.commit()

    wallet = _wallet(tutor)
    assert (wallet.pending, wallet.available, wallet.total_earned) == (0, 0, 0)
    assert check_invariants() == []


def test_the_confirm_call_and_the_webhook_post_one_earning(student, tutor, lesson, pay):
    payment = pay(student, lesson)
    intent = get_provider().retrieve_payment_intent(payment.provider_payment_id)
    outcome.apply_intent(payment, intent)  # what the webhook does, later
    outcome.mark_payment_succeeded(payment, intent)
    db.session.commit()
    assert len(_entries(earning_key(payment))) == 1
    assert _wallet(tutor).pending == 3825


def test_a_refund_reported_twice_deducts_once(student, tutor, admin, lesson, pay):
    payment = pay(student, lesson)
    refund = refunds.process_refund(admin, payment.uuid, amount=2000)
    db.session.commit()
    again = get_provider().create_refund(
        payment_intent=payment.provider_payment_id, amount=2000, idempotency_key="other"
    )
    # A different provider refund is a second refund; the same one reported again is not.
    refunds.apply_provider_refund(
        payment,
        ProviderRefund(
            id=refund.provider_refund_id, amount=2000, currency="usd", status="succeeded"
        ),
    )
    refunds.apply_provider_refund(payment, again)
    db.session.commit()
    assert db.session.get(type(payment), payment.id).amount_refunded == 4000
    # Each 20.00 refund takes back its 17.00 share (fee 3.00): 38.25 - 2 × 17.00.
    assert _wallet(tutor).total_earned == 425
    assert check_invariants() == []
