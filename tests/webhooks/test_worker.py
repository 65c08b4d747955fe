"""With a broker the route only stores and queues; a real Celery worker on Redis settles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from portal import create_app
from portal.extensions import db
from portal.payments.models import PaymentStatus
from portal.webhooks.models import EventStatus
from tests.localstripe_server import SECRET_KEY
from tests.tiers import unavailable
from tests.webhooks.conftest import URL, intent_event, ledger_entries, sign, stored

pytestmark = [pytest.mark.redis, pytest.mark.stripe]
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
def queued_app(app, redis_url, localstripe):
    """The portal with a broker, next to a worker that reaches the tests' localstripe."""
    config = {
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "STRIPE_API_BASE": localstripe.url,
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": app.config["STRIPE_WEBHOOK_SECRET"],
        "STRIPE_MAX_NETWORK_RETRIES": 0,
        "SECRET_KEY": "test-secret",
    }
    env = dict(os.environ, **{k: str(v) for k, v in config.items()})
    env["DATABASE_URL"] = config["SQLALCHEMY_DATABASE_URI"]
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "app.celery_app", "worker", "--pool", "solo"]
        + ["--loglevel", "WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    queued = create_app(config)
    yield queued
    worker.terminate()
    output = worker.communicate(timeout=20)[0].decode(errors="replace")
    app.extensions["celery"].set_default()
    assert "Traceback" not in output, output


def test_a_queued_event_is_settled_by_a_real_worker(queued_app, new_lesson, secret):
    lesson = new_lesson()
    lesson.pay_at_stripe()
    event = intent_event("payment_intent.succeeded", lesson)
    body = json.dumps(event)
    headers = {"Stripe-Signature": sign(body, secret)}
    response = queued_app.test_client().post(URL, data=body, headers=headers)
    assert response.status_code == 200
    deadline = time.monotonic() + 30
    while stored(event["id"]).status == EventStatus.RECEIVED and time.monotonic() < deadline:
        time.sleep(0.2)
    row = stored(event["id"])
    assert (row.status, row.attempts) == (EventStatus.PROCESSED, 1)
    payment = lesson.refresh()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert len(ledger_entries(payment)) == 1
    db.session.rollback()
