"""Pooled connections: pinged before use only after sitting idle, and a dropped one is
recovered either way (PostgreSQL: a backend killed under the pool)."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from portal import create_app
from portal.extensions import db
from tests.support.tiers import database_url, unavailable


def _app(idle_seconds: int):
    url = database_url()
    if not url or not url.startswith("postgresql"):
        unavailable("needs TEST_DATABASE_URL (PostgreSQL) to drop a pooled connection")
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": url,
            "CELERY_BROKER_URL": None,
            "DATABASE_PING_AFTER_IDLE_SECONDS": idle_seconds,
        }
    )


def _backend_pid() -> int:
    pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
    db.session.commit()
    return pid


def _terminate(pid: int) -> None:
    killer = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
    with killer.connect() as connection:
        connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    killer.dispose()


def _pings(engine) -> list:
    pings = []
    original = engine.dialect.do_ping

    def counted(dbapi_connection):
        pings.append(dbapi_connection)
        return original(dbapi_connection)

    engine.dialect.do_ping = counted
    return pings


def test_a_connection_idle_past_the_limit_is_pinged_and_a_dead_one_replaced():
    app = _app(idle_seconds=0)
    with app.app_context():
        pings = _pings(db.engine)
        first = _backend_pid()
        _terminate(first)
        time.sleep(0.05)
        # The pool finds it dead before anything runs on it: no error reaches the caller.
        second = _backend_pid()
        assert second != first
        assert pings, "an idle connection was not pinged"
        db.engine.dispose()


def test_a_connection_in_steady_use_is_not_pinged():
    app = _app(idle_seconds=3600)
    with app.app_context():
        pings = _pings(db.engine)
        pids = {_backend_pid() for _ in range(5)}
        assert len(pids) == 1  # the same pooled connection each time
        assert pings == []
        db.engine.dispose()


def test_a_connection_dropped_in_steady_use_fails_once_then_the_pool_recovers():
    app = _app(idle_seconds=3600)
    with app.app_context():
        first = _backend_pid()
        _terminate(first)
        time.sleep(0.05)
        with pytest.raises(sa.exc.OperationalError):
            db.session.execute(sa.text("SELECT 1"))
        db.session.rollback()
        # The failed statement invalidated the connection: the next checkout reconnects.
        assert _backend_pid() != first
        db.engine.dispose()
