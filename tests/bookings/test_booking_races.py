"""Races on PostgreSQL with real threads and real connections."""

import threading
from datetime import timedelta

import pytest

from portal.bookings.models import Booking
from portal.bookings.services import create_booking
from portal.db import utcnow
from portal.errors import Conflict
from portal.extensions import db
from tests import factories

pytestmark = pytest.mark.postgres


def _book_at_once(app, pairs: list[tuple[int, int]], starts_at) -> list[str]:
    """Each (student id, tutor id) books an hour at `starts_at` in its own thread and
    connection, all at the same moment; "won" or "slot_taken" for each, sorted."""
    barrier = threading.Barrier(len(pairs))
    outcomes: list[str] = []

    def book(student_id: int, tutor_id: int) -> None:
        with app.app_context():
            from portal.accounts.models import User

            student = db.session.get(User, student_id)
            barrier.wait()
            try:
                create_booking(student, tutor_id, starts_at, 60, currency="usd")
                db.session.commit()
                outcomes.append("won")
            except Conflict:
                db.session.rollback()
                outcomes.append("slot_taken")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=book, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


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
