"""What the system page and `/metrics` read: each scheduled task's last run and next run,
recent failures, the queue's depth, webhooks failed or waiting, the last ledger check."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
import sqlalchemy as sa
from flask import current_app

from portal.celery import BEAT_SCHEDULE
from portal.db import utcnow
from portal.extensions import db
from portal.system.models import RunOutcome, TaskRun
from portal.webhooks.models import EventStatus, WebhookEvent

LEDGER_CHECK_TASK = "verify_ledger"
HEARTBEAT_TASK = "beat_heartbeat"
# Beat's heartbeat runs every minute: silent this long means no scheduler is running.
SCHEDULER_SILENT_AFTER = timedelta(minutes=3)
PULSE_WINDOW = timedelta(minutes=10)
# Celery's default queue: a Redis list of that name holds the messages not yet taken.
DEFAULT_QUEUE = "celery"


@dataclass(frozen=True)
class ScheduledTask:
    name: str
    schedule: str
    next_run: datetime
    last_run: TaskRun | None


def scheduled_tasks(now: datetime | None = None) -> list[ScheduledTask]:
    """Every task of the beat schedule with its newest run (one query), by name."""
    now = now or utcnow()
    last = last_runs(list(BEAT_SCHEDULE))
    return [
        ScheduledTask(name, describe_schedule(schedule), next_run(schedule, now), last.get(name))
        for name, schedule in sorted(BEAT_SCHEDULE.items())
    ]


@dataclass(frozen=True)
class SchedulerPulse:
    """What beat's heartbeat says: when it last ran, and how often lately."""

    last_beat: datetime | None
    beats_lately: int

    @property
    def state(self) -> str:
        if self.last_beat is None:
            return "never"
        if utcnow() - self.last_beat > SCHEDULER_SILENT_AFTER:
            return "silent"
        # One a minute; clearly more means two beat processes, running every job twice.
        minutes = PULSE_WINDOW.total_seconds() / 60
        return "doubled" if self.beats_lately > minutes + 2 else "alive"


def scheduler_pulse(now: datetime | None = None) -> SchedulerPulse:
    now = now or utcnow()
    last, lately = db.session.execute(
        sa.select(
            sa.func.max(TaskRun.started_at),
            sa.func.count().filter(TaskRun.started_at >= now - PULSE_WINDOW),
        ).where(TaskRun.task_name == HEARTBEAT_TASK)
    ).one()
    return SchedulerPulse(last, lately)


def last_runs(names: list[str]) -> dict[str, TaskRun]:
    newest = (
        sa.select(
            TaskRun.id,
            sa.func.row_number()
            .over(
                partition_by=TaskRun.task_name,
                order_by=(TaskRun.started_at.desc(), TaskRun.id.desc()),
            )
            .label("n"),
        )
        .where(TaskRun.task_name.in_(names))
        .subquery()
    )
    runs = db.session.scalars(
        sa.select(TaskRun).join(newest, newest.c.id == TaskRun.id).where(newest.c.n == 1)
    ).all()
    return {run.task_name: run for run in runs}


def describe_schedule(schedule) -> str:
    """A crontab as its five fields (minute hour day-of-month month day-of-week)."""
    fields = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    return " ".join(str(getattr(schedule, f"_orig_{field}")) for field in fields)


def next_run(schedule, now: datetime) -> datetime:
    """The schedule's first time after `now`."""
    start, delta, _ = schedule.remaining_delta(now)
    return (start + delta).replace(second=0, microsecond=0)


def recent_failures(limit: int = 20) -> list[TaskRun]:
    return db.session.scalars(
        sa.select(TaskRun)
        .where(TaskRun.outcome == RunOutcome.FAILED)
        .order_by(TaskRun.started_at.desc(), TaskRun.id.desc())
        .limit(limit)
    ).all()


def webhook_backlog() -> dict[str, int]:
    """Stored webhook events failed or still waiting for their task, by status."""
    counts = dict(
        db.session.execute(
            sa.select(WebhookEvent.status, sa.func.count())
            .where(WebhookEvent.status.in_((EventStatus.FAILED, EventStatus.RECEIVED)))
            .group_by(WebhookEvent.status)
        ).all()
    )
    return {
        str(status): counts.get(status, 0) for status in (EventStatus.FAILED, EventStatus.RECEIVED)
    }


def queue_depth() -> int | None:
    """Messages waiting in the default queue when the broker is Redis; None otherwise
    (no broker: tasks run in the request) or when Redis does not answer."""
    url = current_app.config.get("CELERY_BROKER_URL") or ""
    if not url.startswith(("redis://", "rediss://")):
        return None
    try:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return int(client.llen(DEFAULT_QUEUE))
    except redis.exceptions.RedisError:
        return None


def last_ledger_check() -> TaskRun | None:
    return last_runs([LEDGER_CHECK_TASK]).get(LEDGER_CHECK_TASK)


def drift_count(run: TaskRun | None) -> int | None:
    """The drifts the ledger check run found; None when it did not finish."""
    if run is None or run.outcome != RunOutcome.SUCCEEDED or not run.result:
        return None
    return json.loads(run.result).get("drifts")
