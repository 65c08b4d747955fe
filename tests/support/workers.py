"""A real Celery worker on Redis, next to a client app that queues to it."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from portal import create_app
from portal.extensions import db
from tests.support.tiers import unavailable

ROOT = Path(__file__).resolve().parents[2]


def redis_url() -> str:
    """TEST_REDIS_URL, emptied; the Redis tier is unavailable without it."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        unavailable("Redis tier: set TEST_REDIS_URL to run a real Celery worker")
    import redis

    try:
        redis.Redis.from_url(url).flushdb()
    except redis.exceptions.ConnectionError as exc:
        unavailable(f"Redis tier: cannot reach {url}: {exc}")
    return url


@contextmanager
def celery_worker(suite_app, config: dict):
    """Run `celery -A app.celery_app worker` with `config` and yield an app queueing to it.

    `config` needs CELERY_BROKER_URL and SQLALCHEMY_DATABASE_URI; the worker reads the same
    settings from its environment. The worker must end without a traceback.
    """
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
    client_app = create_app(config)
    try:
        yield client_app
    finally:
        with client_app.app_context():
            db.engine.dispose()
        worker.terminate()
        output = worker.communicate(timeout=20)[0].decode(errors="replace")
        # A new Celery app makes itself current and default; give both back to the suite's.
        suite_app.extensions["celery"].set_current()
        suite_app.extensions["celery"].set_default()
    assert "Traceback" not in output, output
