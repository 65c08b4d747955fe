"""A real Celery worker on Redis runs the portal's tasks against the test database."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from portal import create_app
from portal.bookings.models import Booking, BookingStatus
from portal.db import utcnow
from portal.extensions import db
from tests import factories
from tests.tiers import unavailable

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def redis_url():
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        unavailable("Redis tier: set TEST_REDIS_URL to run a real Celery worker")
    import redis

    try:
        redis.Redis.from_url(url).flushdb()
    except redis.exceptions.ConnectionError as exc:
        unavailable(f"Redis tier: cannot reach {url}: {exc}")
    return url


@pytest.fixture
def worker(app, redis_url):
    env = dict(
        os.environ,
        CELERY_BROKER_URL=redis_url,
        CELERY_RESULT_BACKEND=redis_url,
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        SECRET_KEY="test-secret",
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "app.celery_app",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    client_app = create_app(
        {
            "CELERY_BROKER_URL": redis_url,
            "CELERY_RESULT_BACKEND": redis_url,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "SECRET_KEY": "test-secret",
        }
    )
    yield client_app.extensions["celery"]
    process.terminate()
    output = process.communicate(timeout=20)[0].decode(errors="replace")
    # A new Celery app makes itself current and default; give both back to the suite's.
    app.extensions["celery"].set_current()
    app.extensions["celery"].set_default()
    assert "Traceback" not in output, output


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
