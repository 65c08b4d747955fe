"""The money paths told as a tutor lives them, in cents (hordak's worked examples)."""

import pytest

from portal.db import utcnow
from portal.errors import InsufficientFunds
from portal.extensions import db
from portal.money import split_fee, split_refund
from portal.wallets.adjustments import credit_wallet, debit_wallet
from portal.wallets.analytics import get_earnings_analytics, last_months
from portal.wallets.earnings import (
    process_lesson_earning,
    release_earnings_of,
    release_pending_earnings,
)
from portal.wallets.months import rebuild_monthly_totals
from portal.wallets.movement import get_wallet
from portal.wallets.payout_funds import (
    complete_payout_funds,
    release_payout_reservation,
    reserve_payout,
)
from portal.wallets.refunds import process_refund_deduction, reverse_refund_deduction
from portal.wallets.summary import get_wallet_summary
from tests.support.ledger import assert_ledger_ok
from tests.wallets.conftest import complete, figures, platform


def pay(tutor, booking, payment_id, gross=4500):
    split = split_fee(gross)
    line = process_lesson_earning(
        tutor_id=tutor.id,
        gross=gross,
        fee=split.fee,
        idempotency_key=f"payment:{payment_id}:captured",
        booking_id=booking.id,
        payment_id=payment_id,
    )
    db.session.commit()
    return line


def test_a_paid_lesson_is_pending_then_available_then_partly_refunded(tutor, lesson):
    booking = lesson()
    line = pay(tutor, booking, payment_id=1)

    # 4500 paid → the tutor's 3825 is pending, the platform keeps 675.
    assert (line.type, line.amount, line.gross, line.fee) == ("earning", 3825, 4500, 675)
    assert figures(tutor.id) == dict(
        pending=3825, available=0, in_flight=0, earned=3825, withdrawn=0
    )
    assert platform() == {
        "provider_cash": 4500,
        "fee_revenue": 675,
        "payouts_paid": 0,
        "adjustments": 0,
        "subscriptions_unearned": 0,
        "subscription_revenue": 0,
        "invoice_revenue": 0,  # the platform's own invoices: none paid here
    }

    # Not released while the lesson is only scheduled, nor within the hold.
    assert release_pending_earnings() == 0
    complete(booking, days_ago=6.9)
    assert release_pending_earnings() == 0

    # Completed and the 7-day hold has passed → available.
    complete(booking, days_ago=7)
    assert release_pending_earnings() == 1
    db.session.commit()
    assert figures(tutor.id)["available"] == 3825
    assert figures(tutor.id)["pending"] == 0
    assert release_pending_earnings() == 0  # once only

    # A refund of 2000 after release: fee 300 goes back, the tutor's 1700 leaves available.
    split = split_refund(2000, amount=4500, fee=675, refunded=0, fee_refunded=0)
    assert (split.fee, split.net) == (300, 1700)
    refund = process_refund_deduction(
        tutor_id=tutor.id,
        refund=2000,
        fee_part=split.fee,
        idempotency_key="refund:1",
        payment_id=1,
        booking_id=booking.id,
    )
    db.session.commit()
    assert refund.note == "from available"
    assert figures(tutor.id) == dict(
        pending=0, available=3825 - 1700, in_flight=0, earned=3825 - 1700, withdrawn=0
    )
    assert platform()["fee_revenue"] == 675 - 300
    assert platform()["provider_cash"] == 4500 - 2000
    assert_ledger_ok()


def test_a_refund_before_release_comes_out_of_pending_and_is_not_released(tutor, lesson):
    booking = lesson()
    pay(tutor, booking, payment_id=7)
    process_refund_deduction(
        tutor_id=tutor.id, refund=2000, fee_part=300, idempotency_key="refund:7:a", payment_id=7
    )
    db.session.commit()
    assert figures(tutor.id)["pending"] == 3825 - 1700
    complete(booking, days_ago=8)
    assert release_pending_earnings() == 1
    db.session.commit()
    # Only what was still pending is released.
    assert figures(tutor.id) == dict(
        pending=0, available=2125, in_flight=0, earned=2125, withdrawn=0
    )
    assert_ledger_ok()


def refund(tutor, payment_id, key, amount=2000, fee_part=300):
    line = process_refund_deduction(
        tutor_id=tutor.id,
        refund=amount,
        fee_part=fee_part,
        idempotency_key=key,
        payment_id=payment_id,
    )
    db.session.commit()
    return line


def reverse(tutor, key):
    line = reverse_refund_deduction(
        tutor_id=tutor.id, refund_key=key, idempotency_key=f"{key}:reversed"
    )
    db.session.commit()
    return line


def test_a_failed_refund_before_release_goes_back_to_pending_and_is_released(tutor, lesson):
    booking = lesson()
    pay(tutor, booking, payment_id=8)
    before = platform()
    refund(tutor, 8, "refund:8:a")
    line = reverse(tutor, "refund:8:a")

    assert (line.type, line.amount, line.gross, line.fee) == ("refund_reversed", 1700, -2000, -300)
    assert line.note == "back to pending"
    assert figures(tutor.id) == dict(
        pending=3825, available=0, in_flight=0, earned=3825, withdrawn=0
    )
    assert platform() == before
    # Twice is once.
    assert reverse(tutor, "refund:8:a").id == line.id
    assert figures(tutor.id)["pending"] == 3825
    # The whole earning is released again, not just what the refund had left.
    complete(booking, days_ago=8)
    assert release_pending_earnings() == 1
    db.session.commit()
    assert figures(tutor.id)["available"] == 3825
    assert_ledger_ok()


def test_a_failed_refund_after_release_goes_back_to_available(tutor, lesson):
    booking = lesson()
    pay(tutor, booking, payment_id=9)
    refund(tutor, 9, "refund:9:a")  # 1700 out of pending
    complete(booking, days_ago=8)
    release_pending_earnings()  # 2125 released
    db.session.commit()
    line = reverse(tutor, "refund:9:a")
    # The earning has left pending for good: pending back there would never be released.
    assert line.note == "back to available"
    assert figures(tutor.id) == dict(
        pending=0, available=3825, in_flight=0, earned=3825, withdrawn=0
    )
    assert_ledger_ok()


def test_a_refund_that_took_nothing_from_the_wallet_has_nothing_to_reverse(tutor, lesson):
    pay(tutor, lesson(), payment_id=10)
    assert reverse(tutor, "refund:10:never") is None
    assert figures(tutor.id)["pending"] == 3825
    assert_ledger_ok()


def test_the_monthly_refund_figure_nets_a_reversed_refund_out(tutor, lesson):
    pay(tutor, lesson(), payment_id=11)
    refund(tutor, 11, "refund:11:a")
    reverse(tutor, "refund:11:a")
    this_month = last_months(1)
    today = (utcnow().date(), utcnow().date())

    def latest(period, dates):
        bucket = get_earnings_analytics(tutor.id, period, *dates)[-1]
        return bucket.earned, bucket.refunds

    # The monthly totals kept with each movement, and the sums over statement lines.
    assert latest("month", this_month) == latest("day", today) == (3825, 0)
    rebuild_monthly_totals(get_wallet(tutor.id).id)
    db.session.commit()
    assert latest("month", this_month) == (3825, 0)
    assert_ledger_ok()


def test_a_refund_after_release_with_nothing_left_is_a_debt_that_blocks_payouts(tutor, lesson):
    first = lesson(completed_days_ago=10)
    pay(tutor, first, payment_id=1)
    release_pending_earnings()
    reserve_payout(tutor_id=tutor.id, amount=3000, idempotency_key="payout:1:reserve", payout_id=1)
    complete_payout_funds(
        tutor_id=tutor.id, amount=3000, idempotency_key="payout:1:complete", payout_id=1
    )
    db.session.commit()
    assert figures(tutor.id)["available"] == 825

    process_refund_deduction(
        tutor_id=tutor.id, refund=4500, fee_part=675, idempotency_key="refund:1", payment_id=1
    )
    db.session.commit()
    summary = get_wallet_summary(tutor.id)
    assert (summary.available, summary.debt) == (825 - 3825, 3000)
    with pytest.raises(InsufficientFunds, match="debt"):
        reserve_payout(tutor_id=tutor.id, amount=1000, idempotency_key="payout:2", payout_id=2)
    db.session.rollback()

    # Later earnings cover the debt first.
    second = lesson(completed_days_ago=8)
    pay(tutor, second, payment_id=2, gross=6000)
    release_pending_earnings()
    db.session.commit()
    assert figures(tutor.id)["available"] == -3000 + 5100
    assert figures(tutor.id)["withdrawn"] == 3000
    assert_ledger_ok()


def test_a_payout_requested_then_failed_returns_the_money_and_a_second_completes(tutor, lesson):
    pay(tutor, lesson(completed_days_ago=9), payment_id=1)
    release_pending_earnings()
    reserve_payout(tutor_id=tutor.id, amount=2000, idempotency_key="p1", payout_id=1)
    db.session.commit()
    assert figures(tutor.id)["available"] == 1825
    assert figures(tutor.id)["in_flight"] == 2000

    release_payout_reservation(
        tutor_id=tutor.id, amount=2000, idempotency_key="p1:failed", payout_id=1
    )
    db.session.commit()
    assert (figures(tutor.id)["available"], figures(tutor.id)["in_flight"]) == (3825, 0)

    reserve_payout(tutor_id=tutor.id, amount=3825, idempotency_key="p2", payout_id=2)
    complete_payout_funds(tutor_id=tutor.id, amount=3825, idempotency_key="p2:done", payout_id=2)
    db.session.commit()
    assert figures(tutor.id) == dict(
        pending=0, available=0, in_flight=0, earned=3825, withdrawn=3825
    )
    assert platform()["payouts_paid"] == 3825
    assert_ledger_ok()


def test_admin_credit_and_debit_with_a_reason(tutor, admin):
    credit_wallet(
        tutor_id=tutor.id,
        amount=1500,
        reason="Goodwill for a platform outage",
        idempotency_key="adj:1",
        actor_id=admin.id,
    )
    debit = debit_wallet(
        tutor_id=tutor.id,
        amount=500,
        reason="Duplicate credit",
        idempotency_key="adj:2",
        actor_id=admin.id,
    )
    db.session.commit()
    assert (debit.type, debit.amount, debit.available_after) == ("debit", -500, 1000)
    assert debit.entry.actor_id == admin.id
    assert debit.description == "Duplicate credit"
    with pytest.raises(InsufficientFunds):
        debit_wallet(tutor_id=tutor.id, amount=1001, reason="Too much", idempotency_key="adj:3")
    db.session.rollback()
    assert figures(tutor.id)["available"] == 1000
    assert platform()["adjustments"] == 1000
    assert_ledger_ok()


def test_the_hourly_release_goes_tutor_by_tutor(app, tutor, lesson, monkeypatch):
    from portal.wallets import earnings, tasks
    from tests import factories

    other = factories.UserFactory(role="tutor")
    pay(tutor, lesson(completed_days_ago=8), payment_id=21)
    booking = factories.BookingFactory(tutor=other, status="scheduled")
    complete(booking, days_ago=8)
    pay(other, booking, payment_id=22)
    real = release_earnings_of

    def broken_for_other(tutor_id, now):
        if tutor_id == other.id:
            raise RuntimeError("a broken row")
        return real(tutor_id, now)

    monkeypatch.setattr(earnings, "release_earnings_of", broken_for_other)
    assert tasks.release_pending_earnings.run() == 1
    db.session.expire_all()
    assert figures(tutor.id)["available"] == 3825
    assert figures(other.id)["pending"] == 3825  # left for the next run
    monkeypatch.setattr(earnings, "release_earnings_of", real)
    assert tasks.release_pending_earnings.run() == 1
    assert figures(other.id)["available"] == 3825
    assert_ledger_ok()
