"""A real Celery worker on Redis runs the portal's tasks against the test database."""

from datetime import timedelta

import pytest

from portal.bookings.models import Booking, BookingStatus
from portal.db import utcnow
from portal.extensions import db
from tests import factories
from tests.support.workers import celery_worker, redis_url

pytestmark = pytest.mark.redis


@pytest.fixture
def worker(app):
    url = redis_url()
    config = {
        "CELERY_BROKER_URL": url,
        "CELERY_RESULT_BACKEND": url,
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "test-secret",
    }
    with celery_worker(app, config) as client_app:
        yield client_app.extensions["celery"]


def test_round_trip_through_a_real_worker(worker):
    result = worker.send_task("ping", args=["hello"])
    assert result.get(timeout=30) == {"value": "hello", "db": 1}


def test_worker_completes_ended_lessons_in_our_database(worker):
    booking = factories.BookingFactory(
        status=BookingStatus.SCHEDULED, starts_at=utcnow() - timedelta(hours=3)
    )
    assert worker.send_task("complete_ended_lessons").get(timeout=30) == 1
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == BookingStatus.COMPLETED
