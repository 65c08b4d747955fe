"""The quota under concurrency, on PostgreSQL with real threads and connections."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest

from portal.accounts.models import User
from portal.bookings.models import Booking
from portal.bookings.services import create_booking
from portal.db import utcnow
from portal.errors import Conflict
from portal.extensions import db
from portal.subscriptions.models import Subscription
from portal.subscriptions.periods import current_period
from portal.subscriptions.quota import increment_lesson_usage
from tests import factories
from tests.subscriptions.money_support import make_plan, subscribe
from tests.support.races import at_once

pytestmark = pytest.mark.postgres


def test_ten_covered_bookings_at_once_against_four_lessons_exactly_four(app, postgres, student):
    subscription = subscribe(student, make_plan(lessons=4))
    student_id = student.id
    tutors = [factories.UserFactory(role="tutor").id for _ in range(10)]
    start = (utcnow() + timedelta(days=3)).replace(second=0, microsecond=0)

    def book(index: int) -> str:
        me = db.session.get(User, student_id)
        at = start + timedelta(hours=2 * index)
        create_booking(me, tutors[index], at, 60, currency="usd", use_subscription=True)
        db.session.commit()
        return "booked"

    outcomes = at_once([partial(book, i) for i in range(10)], app=app, catch=Conflict)
    codes = sorted(o.code if isinstance(o, Conflict) else o for o in outcomes)
    assert codes == ["booked"] * 4 + ["quota_exhausted"] * 6
    db.session.expire_all()
    assert db.session.query(Booking).count() == 4
    assert (current_period(subscription).lessons_used, subscription.lessons_used) == (4, 4)


def test_the_quota_lock_alone_lets_exactly_four_through(app, postgres, student):
    subscription = subscribe(student, make_plan(lessons=4))
    subscription_id = subscription.id

    def take() -> str:
        increment_lesson_usage(db.session.get(Subscription, subscription_id))
        db.session.commit()
        return "taken"

    outcomes = at_once([take] * 10, app=app, catch=Conflict)
    codes = sorted(o.code if isinstance(o, Conflict) else o for o in outcomes)
    assert codes == ["quota_exhausted"] * 6 + ["taken"] * 4
    db.session.expire_all()
    assert current_period(subscription).lessons_used == 4
