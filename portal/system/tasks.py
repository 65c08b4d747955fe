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


# The scheduler's own pulse: a run every minute, kept a day.
HEARTBEAT = "beat_heartbeat"
HEARTBEAT_KEEP = timedelta(days=1)


@shared_task(name=HEARTBEAT)
def beat_heartbeat() -> None:
    """Does nothing, every minute, from beat's schedule: its recorded runs (system page,
    `portal_scheduled_task_last_run_timestamp_seconds{task="beat_heartbeat"}`) say the one
    beat process is alive and reaches a worker. A gap of a few minutes means no beat runs;
    more than one run a minute means two do, which runs every job twice."""


@shared_task(name="prune_task_runs")
def prune_task_runs() -> int:
    """Delete the task runs older than TASK_RUN_KEEP_DAYS, and heartbeats older than a day
    (nightly); returns how many."""
    now = utcnow()
    cutoff = now - timedelta(days=current_app.config["TASK_RUN_KEEP_DAYS"])
    old = (TaskRun.started_at < cutoff) | (
        (TaskRun.task_name == HEARTBEAT) & (TaskRun.started_at < now - HEARTBEAT_KEEP)
    )
    with unit_of_work():
        deleted = db.session.execute(sa.delete(TaskRun).where(old))
    return deleted.rowcount
