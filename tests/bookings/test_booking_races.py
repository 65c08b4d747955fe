"""Races on PostgreSQL with real threads and real connections."""

from datetime import timedelta
from functools import partial

import pytest

from portal.accounts.models import User
from portal.bookings.models import Booking
from portal.bookings.services import create_booking
from portal.db import utcnow
from portal.errors import Conflict
from portal.extensions import db
from tests import factories
from tests.support.races import at_once

pytestmark = pytest.mark.postgres


def _book_at_once(app, pairs: list[tuple[int, int]], starts_at) -> list[str]:
    """Each (student id, tutor id) books an hour at `starts_at` in its own thread and
    connection, all at the same moment; "won" or "slot_taken" for each, sorted."""

    def book(student_id: int, tutor_id: int) -> str:
        student = db.session.get(User, student_id)
        create_booking(student, tutor_id, starts_at, 60, currency="usd")
        db.session.commit()
        return "won"

    outcomes = at_once([partial(book, *pair) for pair in pairs], app=app, catch=Conflict)
    return sorted("slot_taken" if isinstance(o, Conflict) else o for o in outcomes)


def _soon():
    return (utcnow() + timedelta(days=3)).replace(second=0, microsecond=0)


def test_two_students_booking_the_same_slot_exactly_one_wins(app, postgres):
    tutor = factories.UserFactory(role="tutor")
    students = [factories.UserFactory(role="student").id for _ in range(8)]
    outcomes = _book_at_once(app, [(student, tutor.id) for student in students], _soon())
    assert outcomes == ["slot_taken"] * 7 + ["won"]
    assert db.session.query(Booking).count() == 1


def test_one_student_booking_several_tutors_at_one_time_gets_one_lesson(app, postgres):
    student = factories.UserFactory(role="student")
    tutors = [factories.UserFactory(role="tutor").id for _ in range(6)]
    outcomes = _book_at_once(app, [(student.id, tutor) for tutor in tutors], _soon())
    assert outcomes == ["slot_taken"] * 5 + ["won"]
    assert db.session.query(Booking).count() == 1
