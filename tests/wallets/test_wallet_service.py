"""The service contract other features rely on: types, ranges, idempotency, locks."""

from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.errors import Conflict, InsufficientFunds, NotFound, ValidationError
from portal.extensions import db
from portal.ledger.models import LedgerEntry, LedgerPosting
from portal.ledger.posting import IdempotencyConflict
from portal.payouts.settings import update_payout_settings
from portal.wallets.adjustments import credit_wallet, debit_wallet
from portal.wallets.analytics import get_earnings_analytics
from portal.wallets.earnings import process_lesson_earning, release_pending_earnings
from portal.wallets.models import TutorWallet, WalletTransaction
from portal.wallets.movement import get_or_create_wallet
from portal.wallets.payout_funds import (
    complete_payout_funds,
    release_payout_reservation,
    reserve_payout,
)
from portal.wallets.refunds import process_refund_deduction
from portal.wallets.summary import get_wallet_summary
from tests import factories
from tests.support.ledger import assert_ledger_ok
from tests.wallets.conftest import figures


def _rows() -> tuple[int, int, int]:
    return tuple(
        db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (LedgerEntry, LedgerPosting, WalletTransaction)
    )


def earn(tutor, key="payment:1:captured", gross=4500, fee=675, **kwargs):
    return process_lesson_earning(
        tutor_id=tutor.id, gross=gross, fee=fee, idempotency_key=key, **kwargs
    )


def test_a_repeated_key_returns_the_first_result_and_changes_nothing(tutor):
    first = earn(tutor, payment_id=5)
    db.session.commit()
    before = (_rows(), figures(tutor.id))
    again = earn(tutor, payment_id=5)
    db.session.commit()
    assert again.id == first.id
    assert (_rows(), figures(tutor.id)) == before
    # Even with other figures: the key decides, the first movement stands.
    assert earn(tutor, gross=9999, fee=0).id == first.id
    db.session.commit()
    assert (_rows(), figures(tutor.id)) == before


def test_a_key_used_for_another_kind_of_movement_is_refused(tutor):
    earn(tutor, key="k1")
    db.session.commit()
    with pytest.raises(IdempotencyConflict) as info:
        credit_wallet(tutor_id=tutor.id, amount=100, reason="x", idempotency_key="k1")
    assert info.value.status == 409
    other = factories.UserFactory(role="tutor")
    with pytest.raises(IdempotencyConflict):
        earn(other, key="k1")


def test_replaying_a_debit_that_emptied_the_wallet_returns_it_instead_of_refusing(tutor):
    credit_wallet(tutor_id=tutor.id, amount=1000, reason="r", idempotency_key="c")
    first = debit_wallet(tutor_id=tutor.id, amount=1000, reason="r", idempotency_key="d")
    db.session.commit()
    assert (
        debit_wallet(tutor_id=tutor.id, amount=1000, reason="r", idempotency_key="d").id == first.id
    )


@pytest.mark.parametrize("bad", [45.0, "4500", Decimal(4500), True, None])
def test_amounts_must_be_ints(tutor, bad):
    with pytest.raises(TypeError):
        earn(tutor, gross=bad)
    with pytest.raises(TypeError):
        credit_wallet(tutor_id=tutor.id, amount=bad, reason="r", idempotency_key="c")
    assert _rows() == (0, 0, 0)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda t: earn(t, gross=0, fee=0), "gross"),
        (lambda t: earn(t, gross=-100, fee=0), "gross"),
        (lambda t: earn(t, gross=100, fee=101), "fee"),
        (lambda t: earn(t, gross=100, fee=-1), "fee"),
        (lambda t: earn(t, gross=10**12, fee=0), "gross"),
        (
            lambda t: process_refund_deduction(
                tutor_id=t.id, refund=100, fee_part=200, idempotency_key="r"
            ),
            "fee_part",
        ),
        (
            lambda t: credit_wallet(tutor_id=t.id, amount=100, reason="  ", idempotency_key="c"),
            "reason",
        ),
        (
            lambda t: reserve_payout(tutor_id=t.id, amount=-5, idempotency_key="p", payout_id=1),
            "amount",
        ),
    ],
)
def test_bad_values_are_refused_before_anything_is_written(tutor, call, field):
    with pytest.raises(ValidationError) as info:
        call(tutor)
    assert field in info.value.fields
    db.session.rollback()
    assert _rows() == (0, 0, 0)


def test_keys_must_be_non_empty_strings(tutor):
    for bad in ("", "   ", None, 42):
        with pytest.raises(TypeError):
            earn(tutor, key=bad)


def test_only_tutors_have_wallets(student, admin):
    for user in (student, admin):
        with pytest.raises(NotFound):
            get_or_create_wallet(user.id)
    with pytest.raises(NotFound):
        get_or_create_wallet(999_999)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TutorWallet)) == 0


def test_get_or_create_wallet_opens_it_once(tutor):
    first = get_or_create_wallet(tutor.id)
    assert get_or_create_wallet(tutor.id).id == first.id
    figures = (first.available, first.pending, first.in_flight, first.payout_threshold)
    assert figures == (0, 0, 0, 1000)


def test_payout_reservation_refuses_more_than_available(tutor):
    credit_wallet(tutor_id=tutor.id, amount=2000, reason="r", idempotency_key="c")
    with pytest.raises(InsufficientFunds) as info:
        reserve_payout(tutor_id=tutor.id, amount=2001, idempotency_key="p", payout_id=1)
    assert info.value.status == 409


def test_payout_settlement_cannot_move_more_than_that_payout_holds(tutor):
    credit_wallet(tutor_id=tutor.id, amount=5000, reason="r", idempotency_key="c")
    reserve_payout(tutor_id=tutor.id, amount=2000, idempotency_key="p1", payout_id=1)
    reserve_payout(tutor_id=tutor.id, amount=2000, idempotency_key="p2", payout_id=2)
    with pytest.raises(Conflict, match="in flight"):
        complete_payout_funds(tutor_id=tutor.id, amount=2500, idempotency_key="p1:c", payout_id=1)
    complete_payout_funds(tutor_id=tutor.id, amount=2000, idempotency_key="p1:c", payout_id=1)
    with pytest.raises(Conflict):  # already completed: nothing left to return
        release_payout_reservation(
            tutor_id=tutor.id, amount=2000, idempotency_key="p1:fail", payout_id=1
        )
    db.session.rollback()


def test_update_payout_settings(tutor):
    saved = update_payout_settings(tutor.id, payout_threshold=2500, auto_payout_enabled=True)
    db.session.commit()
    assert (saved.payout_threshold, saved.auto_payout_enabled) == (2500, True)
    with pytest.raises(ValidationError, match="at least"):
        update_payout_settings(tutor.id, payout_threshold=999)
    with pytest.raises(TypeError):
        update_payout_settings(tutor.id, auto_payout_enabled="yes")
    db.session.rollback()
    assert get_wallet_summary(tutor.id).payout_threshold == 2500


def test_an_earning_without_a_booking_is_released_after_the_hold(tutor):
    from datetime import timedelta

    from portal.db import utcnow

    earn(tutor)
    db.session.commit()
    assert release_pending_earnings(utcnow() + timedelta(days=6)) == 0
    assert release_pending_earnings(utcnow() + timedelta(days=7, seconds=1)) == 1
    db.session.commit()
    assert figures(tutor.id)["available"] == 3825


def test_a_refund_without_a_link_comes_out_of_available(tutor):
    earn(tutor)
    process_refund_deduction(tutor_id=tutor.id, refund=1000, fee_part=150, idempotency_key="r")
    db.session.commit()
    assert figures(tutor.id)["pending"] == 3825
    assert figures(tutor.id)["available"] == -850
    assert_ledger_ok()


def test_analytics_sum_by_period_with_every_bucket(tutor):
    from datetime import date, timedelta

    from portal.db import utcnow

    earn(tutor, key="a")
    earn(tutor, key="b", gross=1000, fee=150)
    process_refund_deduction(tutor_id=tutor.id, refund=1000, fee_part=150, idempotency_key="r")
    db.session.commit()
    today = utcnow().date()
    days = get_earnings_analytics(tutor.id, "day", today - timedelta(days=2), today)
    assert [d.start for d in days] == [today - timedelta(days=n) for n in (2, 1, 0)]
    last = days[-1]
    assert (last.earned, last.fees, last.lessons, last.refunds, last.net) == (
        3825 + 850,
        675 + 150,
        2,
        850,
        3825,
    )
    weeks = get_earnings_analytics(tutor.id, "week", today - timedelta(days=20), today)
    assert all(w.start.weekday() == 0 for w in weeks)
    assert sum(w.earned for w in weeks) == 4675
    months = get_earnings_analytics(tutor.id, "month", date(2020, 1, 1), today)
    assert months[0].start == date(2020, 1, 1) and sum(m.lessons for m in months) == 2
    with pytest.raises(ValidationError):
        get_earnings_analytics(tutor.id, "year", today, today)
    with pytest.raises(ValidationError):
        get_earnings_analytics(tutor.id, "day", today, today - timedelta(days=1))
    with pytest.raises(ValidationError, match="more than"):
        get_earnings_analytics(tutor.id, "day", date(2000, 1, 1), today)
