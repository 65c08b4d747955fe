from datetime import timedelta

import sqlalchemy as sa
from celery import shared_task
from flask import current_app

from portal.db import unit_of_work, utcnow
from portal.extensions import db
from portal.system.models import TaskRun


@shared_task(name="ping")
def ping(value: str = "pong") -> dict:
    """Round trip through the broker and the database; used by health checks and tests."""
    count = db.session.execute(db.text("SELECT 1")).scalar_one()
    return {"value": value, "db": count}


@shared_task(name="prune_task_runs")
def prune_task_runs() -> int:
    """Delete the task runs older than TASK_RUN_KEEP_DAYS (nightly); returns how many."""
    cutoff = utcnow() - timedelta(days=current_app.config["TASK_RUN_KEEP_DAYS"])
    with unit_of_work():
        deleted = db.session.execute(sa.delete(TaskRun).where(TaskRun.started_at < cutoff))
    return deleted.rowcount
