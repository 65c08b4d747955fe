"""`/healthz` (the process answers) and `/readyz` (it can do its work), for load balancers
and orchestrators: JSON, no authentication, nothing secret in them.

Ready means: the database answers; its schema is at the migrations' head (new code on an
old schema fails in odd places, so an instance waits for `flask db upgrade`); the broker
answers when one is configured; in production, Stripe's keys are set and are not the
embedded localstripe ones. Not ready is a 503 naming the failing checks, never an error's
text (it may hold a host or a password).
"""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify

from portal.extensions import db

bp = Blueprint("health", __name__)

BROKER_TIMEOUT_SECONDS = 2
# The embedded defaults (localstripe): no production instance is ready with these.
LOCAL_STRIPE_KEYS = {
    "STRIPE_SECRET_KEY": "sk_test_localstripe",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_localstripe",
    "STRIPE_WEBHOOK_SECRET": "whsec_localstripe",
}


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    checks = {"database": check_database()}
    if checks["database"] == "ok":
        checks["migrations"] = check_migrations()
    if current_app.config.get("CELERY_BROKER_URL"):
        checks["broker"] = check_broker()
    if current_app.config["ENV_NAME"] == "production":
        checks["stripe_keys"] = check_stripe_keys()
    ready = all(value == "ok" for value in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return jsonify(body), 200 if ready else 503


def check_database() -> str:
    try:
        with db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        current_app.logger.warning("readyz: the database does not answer (%s)", type(exc).__name__)
        return "unreachable"
    return "ok"


def check_migrations() -> str:
    """ "ok" when the database's revision is the scripts' head, else what is wrong."""
    with db.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if not current:
        return "not migrated"
    return "ok" if current == set(script_heads(migrations_directory())) else "not at head"


def migrations_directory() -> str:
    return current_app.extensions["migrate"].directory


@cache
def script_heads(directory: str) -> tuple[str, ...]:
    """The head revisions of the migration scripts (read once: they change with a deploy)."""
    return tuple(ScriptDirectory(directory).get_heads())


def check_broker() -> str:
    celery_app = current_app.extensions["celery"]
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as exc:
        current_app.logger.warning("readyz: the broker does not answer (%s)", type(exc).__name__)
        return "unreachable"
    return "ok"


def check_stripe_keys() -> str:
    config = current_app.config
    for name, local in LOCAL_STRIPE_KEYS.items():
        if not config.get(name) or config[name] == local:
            return "missing"
    return "ok"
