"""Queueing a task on Redis: one client object per channel, the messages unchanged, the
arguments shown in full up to Celery's limit."""

import base64
import json

import pytest
import redis

from portal import create_app
from portal.celery import RedisTransport
from tests.support.workers import redis_url

pytestmark = pytest.mark.redis


def test_a_redis_broker_publishes_through_one_client_per_channel():
    url = redis_url()
    app = create_app(
        {"CELERY_BROKER_URL": url, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    )
    celery = app.extensions["celery"]
    with celery.connection_for_write() as connection:
        assert isinstance(connection.transport, RedisTransport)
        channel = connection.default_channel
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
    with app.app_context():
        for n in (1, 2):
            celery.tasks["process_webhook_event"].delay(n)
    queued = redis.Redis.from_url(url).lrange("celery", 0, -1)
    messages = [json.loads(raw) for raw in reversed(queued)]
    assert [m["headers"]["task"] for m in messages] == ["process_webhook_event"] * 2
    assert [json.loads(base64.b64decode(m["body"]))[0] for m in messages] == [[1], [2]]
    assert [m["headers"]["argsrepr"] for m in messages] == ["(1,)", "(2,)"]
    assert [m["headers"]["kwargsrepr"] for m in messages] == ["{}", "{}"]


def test_long_arguments_are_shown_cut_at_celerys_limit():
    url = redis_url()
    app = create_app(
        {"CELERY_BROKER_URL": url, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    )
    with app.app_context():
        app.extensions["celery"].tasks["process_webhook_event"].apply_async(("x" * 5000,))
    message = json.loads(redis.Redis.from_url(url).lrange("celery", 0, -1)[0])
    shown = message["headers"]["argsrepr"]
    assert len(shown) == 1024 and shown.startswith("('xxx") and shown.endswith("...")
    assert json.loads(base64.b64decode(message["body"]))[0] == ["x" * 5000]  # sent whole


def test_other_brokers_keep_their_own_transport():
    app = create_app({"SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.extensions["celery"].connection_for_write() as connection:
        assert not isinstance(connection.transport, RedisTransport)
