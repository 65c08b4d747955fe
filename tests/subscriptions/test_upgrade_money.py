"""A plan changed mid-period: the period it opens carries what the replaced one had not
spent, so every cent the student paid ends in tutors' shares or platform revenue.

The story runs against Stripe's recorded answers (localstripe cannot change an item):
Four a month (160.00, 4 lessons) bought, one lesson used, upgraded on 7 Dec to Eight a
month (300.00, 8 lessons) with Stripe's proration (93.33 charged), three lessons used
after, then the renewal on 27 Dec closes the upgrade's period.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.bookings.services import complete_booking
from portal.db import utcnow
from portal.extensions import db
from portal.subscriptions import events, services
from portal.subscriptions.periods import open_period
from portal.wallets.models import WalletTransaction
from tests.subscriptions.money_support import balances, make_plan, subscribe
from tests.subscriptions.recorded_support import SUB, subscribed
from tests.subscriptions.stripe_support import periods
from tests.support.ledger import assert_ledger_ok
from tests.support.stripe_replay import recorded
from tests.wallets.conftest import figures

pytestmark = pytest.mark.stripe


def _book(client, headers, tutor, days: int) -> int:
    start = (utcnow() + timedelta(days=days)).replace(hour=15, minute=0, second=0, microsecond=0)
    body = {"tutor_id": tutor.id, "starts_at": start.isoformat().replace("+00:00", "Z"),
            "duration_minutes": 60, "use_subscription": True}  # fmt: skip
    response = client.post("/api/v1/bookings/", json=body, headers=headers)
    assert response.status_code == 201, response.json
    return response.json["id"]


def _complete(admin, *lessons: int) -> None:
    for lesson in lessons:
        complete_booking(admin, lesson)
        db.session.commit()


def _shares() -> list[int]:
    lines = db.session.query(WalletTransaction).order_by(WalletTransaction.id)
    return [line.gross for line in lines if line.type == "subscription_earning"]


def _upgrade(stripe_replay, student, eight) -> None:
    stripe_replay.answer("GET", f"/v1/subscriptions/{SUB}", "subscription_active")
    stripe_replay.answer("POST", f"/v1/subscriptions/{SUB}", "subscription_upgraded")
    services.change_plan(student, eight)
    db.session.commit()


@pytest.mark.parametrize("given_before_upgrade", [True, False])
def test_an_upgrade_carries_the_unspent_price_and_every_cent_ends_earned_or_revenue(
    client, bearer, stripe_replay, four, eight, card_holder, tutor, admin, given_before_upgrade
):
    student, _ = subscribed(stripe_replay, four, card_holder)
    headers = bearer(student)
    first_lesson = _book(client, headers, tutor, days=1)
    if given_before_upgrade:
        _complete(admin, first_lesson)
    _upgrade(stripe_replay, student, eight)
    first, upgrade = periods()
    # 160.00 paid, one lesson's share (40.00) kept for the lesson booked from it; the
    # other 120.00 goes with the student to the new plan, next to the 93.33 prorated.
    assert (first.carried_out, upgrade.carried_in, upgrade.amount_paid) == (12000, 12000, 9333)
    assert first.to_revenue == 0
    later = [_book(client, headers, tutor, days=d) for d in (2, 3, 4)]
    _complete(admin, *later)
    if not given_before_upgrade:
        _complete(admin, first_lesson)
    # 213.33 over 8 lessons: 26.67 each (the period's last lesson would take 26.64).
    assert sorted(_shares()) == sorted([4000, 2667, 2667, 2667])
    events.invoice_paid(recorded("invoice_renewal_paid"))
    db.session.commit()
    first, upgrade, renewal = periods()
    paid_for_both = 16000 + 9333
    earned = sum(_shares())
    books = balances()
    assert books["subscription_revenue"] == paid_for_both - earned == 13332
    assert books["fee_revenue"] + figures(tutor.id)["pending"] == earned
    assert books["provider_cash"] == paid_for_both + renewal.amount_paid
    assert books["subscriptions_unearned"] == renewal.amount_paid  # only the renewal's
    assert (first.closed_at, upgrade.closed_at) != (None, None)
    assert_ledger_ok()


def test_the_200_for_3_lessons_story_with_an_upgrade_after_the_first_lesson(
    client, bearer, student, tutor, admin
):
    """200.00 for 3 lessons, one given (66.67), then 150.00 for 6 lessons from mid-way:
    the new period shares 150.00 + 133.33 over its 6 lessons."""
    subscription = subscribe(student, make_plan(price=20000, lessons=3), invoice="in_1")
    headers = bearer(student)
    _complete(admin, _book(client, headers, tutor, days=1))
    subscription.plan = make_plan(price=30000, lessons=6)
    mid = subscription.current_period_start + timedelta(days=15)
    open_period(subscription, starts_at=mid, ends_at=subscription.current_period_end,
                amount_paid=15000, currency="usd", provider_invoice_id="in_2")  # fmt: skip
    db.session.commit()
    lessons = [_book(client, headers, tutor, days=d) for d in range(2, 8)]
    _complete(admin, *lessons)
    # 283.33 / 6 = 47.22: five of them, and the last takes 47.23.
    assert _shares() == [6667] + [4722] * 5 + [4723]
    books = balances()
    assert books["fee_revenue"] + figures(tutor.id)["pending"] == 20000 + 15000
    assert books["subscription_revenue"] == 0 and books["subscriptions_unearned"] == 0
    assert_ledger_ok()
