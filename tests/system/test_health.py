"""`/healthz` and `/readyz`: JSON, no sign-in, 503 naming each failing check."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.system import health


@pytest.fixture
def at_head(app):
    """The test database stamped at the migrations' head, as `flask db upgrade` leaves it."""
    heads = health.script_heads(health.migrations_directory())
    _drop_version_table()
    with db.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        for head in heads:
            conn.execute(sa.text("INSERT INTO alembic_version VALUES (:v)"), {"v": head})
    yield heads
    _drop_version_table()


def _drop_version_table() -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


def test_healthz_answers_without_sign_in(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_when_the_database_is_at_head(client, at_head):
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok"},
    }


def test_not_ready_before_any_migration(client):
    _drop_version_table()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["migrations"] == "not migrated"


def test_not_ready_on_an_old_revision(client, at_head):
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'e443d3fa1583'"))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "not ready",
        "checks": {"database": "ok", "migrations": "not at head"},
    }


def test_not_ready_when_the_database_does_not_answer(app, client, monkeypatch):
    def refuse():
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("password=hunter2"))

    monkeypatch.setattr(db.engine, "connect", refuse)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "unreachable"}
    assert "hunter2" not in response.get_data(as_text=True)


def test_not_ready_when_the_broker_does_not_answer(app, client, at_head, monkeypatch):
    # Nothing listens on port 1: the connection is refused at once.
    monkeypatch.setitem(app.config, "CELERY_BROKER_URL", "redis://:s3cret@127.0.0.1:1/0")
    celery_app = app.extensions["celery"]
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://:s3cret@127.0.0.1:1/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["broker"] == "unreachable"
    assert "s3cret" not in response.get_data(as_text=True)


@pytest.mark.redis
def test_ready_with_a_broker_that_answers(app, client, at_head, monkeypatch):
    from tests.support.workers import redis_url

    url = redis_url()
    monkeypatch.setitem(app.config, "CELERY_BROKER_URL", url)
    monkeypatch.setattr(app.extensions["celery"].conf, "broker_url", url)
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["checks"]["broker"] == "ok"


@pytest.mark.parametrize("key", sorted(health.LOCAL_STRIPE_KEYS))
def test_production_is_not_ready_with_a_missing_or_local_stripe_key(
    app, client, at_head, monkeypatch, key
):
    monkeypatch.setitem(app.config, "ENV_NAME", "production")
    for name in health.LOCAL_STRIPE_KEYS:
        monkeypatch.setitem(app.config, name, f"{name.lower()}_live_value")
    assert client.get("/readyz").status_code == 200
    monkeypatch.setitem(app.config, key, health.LOCAL_STRIPE_KEYS[key])
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["stripe_keys"] == "missing"
    monkeypatch.setitem(app.config, key, None)
    assert client.get("/readyz").get_json()["checks"]["stripe_keys"] == "missing"
    assert "live_value" not in client.get("/readyz").get_data(as_text=True)
