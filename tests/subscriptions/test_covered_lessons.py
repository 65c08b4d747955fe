"""Covered lessons: a booking with `use_subscription` takes a lesson of the quota, is
scheduled without a payment, goes back to its period when cancelled, and pays its tutor
a share of the period's price when completed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.bookings.models import Booking, BookingStatus
from portal.bookings.services import complete_booking
from portal.db import utcnow
from portal.extensions import db
from portal.payments.models import Payment
from portal.subscriptions.models import SubscriptionPeriod, SubscriptionStatus
from portal.subscriptions.periods import current_period, open_period
from portal.subscriptions.quota import check_lesson_quota
from portal.wallets.earnings import release_pending_earnings
from portal.wallets.models import WalletTransaction
from tests.subscriptions.money_support import balances, count, make_plan, renew, subscribe
from tests.support.ledger import assert_ledger_ok
from tests.wallets.conftest import figures


def _start(days: int) -> str:
    start = (utcnow() + timedelta(days=days)).replace(hour=15, minute=0, second=0, microsecond=0)
    return start.isoformat().replace("+00:00", "Z")


def book(client, headers, tutor, days=2, **extra):
    body = {"tutor_id": tutor.id, "starts_at": _start(days), "duration_minutes": 60}
    body.update({"use_subscription": True, **extra})
    return client.post("/api/v1/bookings/", json=body, headers=headers)


def test_a_covered_lesson_is_scheduled_at_once_without_a_payment(client, bearer, student, tutor):
    subscription = subscribe(student, make_plan(lessons=3))
    response = book(client, bearer(student), tutor)
    assert response.status_code == 201, response.json
    lesson = response.json
    assert lesson["status"] == "scheduled"
    assert lesson["subscription_id"] == subscription.id
    assert lesson["payment_id"] is None
    booking = db.session.get(Booking, lesson["id"])
    assert booking.subscription_period_id == current_period(subscription).id
    quota = check_lesson_quota(student)
    assert (quota.lessons_used, quota.lessons_remaining, quota.can_book) == (1, 2, True)
    assert subscription.lessons_used == 1
    assert count(Payment) == 0


def test_the_quota_runs_out(client, bearer, student, tutor):
    subscribe(student, make_plan(lessons=2))
    headers = bearer(student)
    assert [book(client, headers, tutor, days=d).status_code for d in (1, 2)] == [201, 201]
    refused = book(client, headers, tutor, days=3)
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "quota_exhausted"
    assert count(Booking) == 2
    assert check_lesson_quota(student).can_book is False


@pytest.mark.parametrize(
    "status",
    [SubscriptionStatus.PAST_DUE, SubscriptionStatus.INCOMPLETE, SubscriptionStatus.CANCELED],
)
def test_no_covered_lesson_without_an_active_subscription(client, bearer, student, tutor, status):
    subscription = subscribe(student, make_plan())
    subscription.status = status
    db.session.commit()
    refused = book(client, bearer(student), tutor)
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "no_active_subscription"
    assert count(Booking) == 0
    assert current_period(subscription).lessons_used == 0


def test_no_subscription_at_all(client, bearer, student, tutor):
    refused = book(client, bearer(student), tutor)
    assert (refused.status_code, refused.json["error"]["code"]) == (409, "no_active_subscription")
    assert count(Booking) == 0


def test_use_subscription_must_be_a_boolean(client, bearer, student, tutor):
    subscribe(student, make_plan())
    refused = book(client, bearer(student), tutor, use_subscription="yes")
    assert refused.status_code == 400
    assert "use_subscription" in refused.json["error"]["fields"]
    assert count(Booking) == 0


def test_a_trialing_subscription_covers_lessons(client, bearer, student, tutor):
    subscribe(student, make_plan(), status=SubscriptionStatus.TRIALING, paid=0)
    assert book(client, bearer(student), tutor).status_code == 201


def test_cancelling_before_the_start_gives_the_lesson_back(client, bearer, student, tutor):
    subscription = subscribe(student, make_plan(lessons=1))
    headers = bearer(student)
    lesson = book(client, headers, tutor, days=1).json
    assert book(client, headers, tutor, days=2).json["error"]["code"] == "quota_exhausted"
    cancelled = client.post(f"/api/v1/bookings/{lesson['id']}/cancel/", headers=headers)
    assert cancelled.json["status"] == "cancelled"
    db.session.expire_all()
    assert (current_period(subscription).lessons_used, subscription.lessons_used) == (0, 0)
    assert book(client, headers, tutor, days=2).status_code == 201


def test_a_lesson_cancelled_after_a_renewal_goes_back_to_its_own_period(
    client, bearer, student, tutor
):
    subscription = subscribe(student, make_plan(price=20000, lessons=3), invoice="in_1")
    headers = bearer(student)
    lesson = book(client, headers, tutor, days=40).json  # taken from the first period
    renew(subscription, paid=20000, invoice="in_2")
    db.session.commit()
    first, second = db.session.query(SubscriptionPeriod).order_by(SubscriptionPeriod.id)
    # The first period ended with one lesson still to come: its share stays unearned.
    assert (first.to_revenue, first.lessons_used) == (20000 - 6667, 1)
    client.post(f"/api/v1/bookings/{lesson['id']}/cancel/", headers=headers)
    db.session.expire_all()
    assert (first.lessons_used, first.to_revenue) == (0, 20000)
    assert (second.lessons_used, subscription.lessons_used) == (0, 0)
    assert balances()["subscription_revenue"] == 20000
    assert balances()["subscriptions_unearned"] == 20000
    assert_ledger_ok()


def _complete(booking_id: int, admin) -> Booking:
    booking = complete_booking(admin, booking_id)
    db.session.commit()
    return booking


def test_story_200_with_3_lessons_all_given_shares_6667_6667_6666(
    client, bearer, student, tutor, admin
):
    subscribe(student, make_plan(price=20000, lessons=3))
    headers = bearer(student)
    lessons = [book(client, headers, tutor, days=d).json["id"] for d in (1, 2, 3)]
    for lesson in lessons:
        _complete(lesson, admin)
    lines = db.session.query(WalletTransaction).order_by(WalletTransaction.id).all()
    assert [(line.type, line.gross) for line in lines] == [("subscription_earning", 6667)] * 2 + [
        ("subscription_earning", 6666)
    ]
    # The platform fee is taken at the paid-lesson rate (15%): 1000, 1000, 1000.
    assert [line.fee for line in lines] == [1000, 1000, 1000]
    assert figures(tutor.id)["pending"] == 20000 - 3000
    period = db.session.query(SubscriptionPeriod).one()
    assert (period.lessons_shared, period.shared) == (3, 20000)
    assert balances()["subscriptions_unearned"] == 0
    assert balances()["fee_revenue"] == 3000
    assert balances()["provider_cash"] == 20000
    assert_ledger_ok()


def test_a_covered_earning_is_released_after_the_hold_like_any_earning(
    client, bearer, student, tutor, admin
):
    subscribe(student, make_plan(price=20000, lessons=4))
    lesson = book(client, bearer(student), tutor).json["id"]
    booking = _complete(lesson, admin)
    assert release_pending_earnings() == 0
    booking.completed_at = utcnow() - timedelta(days=8)
    db.session.commit()
    assert release_pending_earnings() == 1
    db.session.commit()
    assert figures(tutor.id)["available"] == 5000 - 750
    assert_ledger_ok()


def test_a_lesson_completed_after_its_period_closed_still_earns_its_share(
    client, bearer, student, tutor, admin
):
    subscription = subscribe(student, make_plan(price=20000, lessons=3), invoice="in_1")
    lesson = book(client, bearer(student), tutor).json["id"]
    renew(subscription, paid=20000, invoice="in_2")
    db.session.commit()
    _complete(lesson, admin)
    first = db.session.query(SubscriptionPeriod).order_by(SubscriptionPeriod.id).first()
    assert (first.shared, first.to_revenue) == (6667, 20000 - 6667)
    assert balances()["subscriptions_unearned"] == 20000  # only the new period's
    assert_ledger_ok()


def test_a_trial_lesson_earns_nothing(client, bearer, student, tutor, admin):
    subscribe(student, make_plan(), status=SubscriptionStatus.TRIALING, paid=0)
    lesson = book(client, bearer(student), tutor).json["id"]
    assert _complete(lesson, admin).status == BookingStatus.COMPLETED
    assert count(WalletTransaction) == 0
    assert_ledger_ok()


def test_a_lesson_cancelled_after_a_plan_change_gives_the_count_back_too(
    client, bearer, student, tutor
):
    """A plan changed mid-period opens a period of its own, but Stripe keeps the billing
    cycle's start as the subscription's: the count still follows the open period."""
    subscription = subscribe(student, make_plan(price=20000, lessons=3), invoice="in_1")
    first = current_period(subscription)
    change = open_period(subscription, starts_at=first.starts_at + timedelta(days=15),
                         ends_at=first.ends_at, amount_paid=2500, currency="usd",
                         provider_invoice_id="in_2")  # fmt: skip
    subscription.current_period_start = first.starts_at  # as customer.subscription.updated says
    db.session.commit()
    headers = bearer(student)
    lesson = book(client, headers, tutor, days=20).json
    db.session.expire_all()
    assert (change.lessons_used, subscription.lessons_used) == (1, 1)
    client.post(f"/api/v1/bookings/{lesson['id']}/cancel/", headers=headers)
    db.session.expire_all()
    assert (change.lessons_used, subscription.lessons_used) == (0, 0)
    assert_ledger_ok()
