"""The booking form's "Use my subscription (N lessons left)": offered while a subscription
covers lessons, disabled when the quota is used up, refused when nothing covers it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.bookings.models import Booking, BookingStatus
from portal.db import utcnow
from portal.extensions import db
from portal.subscriptions import services
from tests.subscriptions.stripe_support import subscriptions


def _slot(days: int) -> dict:
    day = (utcnow() + timedelta(days=days)).date().isoformat()
    return {"date": day, "time": "15:00", "duration_minutes": "60"}


def _bookings() -> list[Booking]:
    db.session.expire_all()
    return db.session.query(Booking).order_by(Booking.id).all()


def test_without_a_subscription_the_form_points_to_the_plans(login, student, tutor):
    browser = login(student)
    page = browser.get(f"/tutors/{tutor.id}/book").get_data(as_text=True)
    assert "Use my subscription" not in page and 'href="/plans"' in page
    refused = browser.post(f"/tutors/{tutor.id}/book", {**_slot(2), "use_subscription": "y"})
    assert refused.status_code == 422
    assert "no active subscription" in refused.get_data(as_text=True)
    assert _bookings() == []


@pytest.mark.stripe
def test_a_covered_lesson_uses_the_quota_until_it_is_gone(
    login, student, tutor, localstripe, stripe_plan, card_holder
):
    card_holder(student=student)
    services.create_subscription(student, stripe_plan(price=20000, lessons=2))
    db.session.commit()
    browser = login(student)
    url = f"/tutors/{tutor.id}/book"
    assert "Use my subscription (2 lessons left)" in browser.get(url).get_data(as_text=True)
    booked = browser.post(url, {**_slot(2), "use_subscription": "y"})
    assert booked.status_code == 302
    [lesson] = _bookings()
    [sub] = subscriptions()
    assert lesson.status == BookingStatus.SCHEDULED and lesson.subscription_id == sub.id
    assert "booked from your subscription" in browser.get("/lessons").get_data(as_text=True)
    assert "Use my subscription (1 lesson left)" in browser.get(url).get_data(as_text=True)
    # Not ticked: an ordinary lesson to pay for.
    browser.post(url, _slot(3))
    assert _bookings()[1].status == BookingStatus.PENDING_PAYMENT
    assert _bookings()[1].subscription_id is None
    browser.post(url, {**_slot(4), "use_subscription": "y"})
    page = browser.get(url).get_data(as_text=True)
    assert "Use my subscription (0 lessons left)" in page and "disabled" in page
    over = browser.post(url, {**_slot(5), "use_subscription": "y"})
    assert over.status_code == 422
    assert "All 2 lessons of this period are booked." in over.get_data(as_text=True)
    assert len(_bookings()) == 3
    assert "0 of 2 lessons left" in browser.get("/subscription").get_data(as_text=True)


@pytest.mark.stripe
def test_past_due_covers_nothing(login, student, tutor, localstripe, stripe_plan, card_holder):
    card_holder(student=student)
    services.create_subscription(student, stripe_plan())
    db.session.commit()
    [sub] = subscriptions()
    sub.status = "past_due"
    db.session.commit()
    browser = login(student)
    url = f"/tutors/{tutor.id}/book"
    assert "Use my subscription" not in browser.get(url).get_data(as_text=True)
    refused = browser.post(url, {**_slot(2), "use_subscription": "y"})
    assert refused.status_code == 422 and _bookings() == []
