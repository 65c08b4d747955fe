"""One row per run of a scheduled task, written by the task wrapper, so the admin's system
page knows each job's last run whatever the broker (Redis, or none at all).

A run is `running` from its start, then `succeeded` (with its result, in short),
`failed` (with the error) or `retried` (Celery will run it again). Rows older than
`TASK_RUN_KEEP_DAYS` are pruned nightly.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from portal.db import UTCDateTime, one_of, utcnow
from portal.extensions import db


class RunOutcome(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRIED = "retried"


MAX_ERROR_LENGTH = 2000
MAX_RESULT_LENGTH = 1000


class TaskRun(db.Model):
    __tablename__ = "task_runs"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    task_name: so.Mapped[str] = so.mapped_column(sa.String(100))
    task_id: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    started_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    finished_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    duration_ms: so.Mapped[int | None] = so.mapped_column()
    outcome: so.Mapped[str] = so.mapped_column(sa.String(20), default=RunOutcome.RUNNING)
    result: so.Mapped[str | None] = so.mapped_column(sa.String(MAX_RESULT_LENGTH))
    error: so.Mapped[str | None] = so.mapped_column(sa.String(MAX_ERROR_LENGTH))

    __table_args__ = (
        sa.CheckConstraint(one_of("outcome", RunOutcome), name="outcome"),
        # The system page reads each task's newest runs.
        sa.Index("ix_task_runs_task_name_started_at", "task_name", "started_at"),
    )

    def __repr__(self) -> str:
        return f"<TaskRun {self.task_name} {self.outcome}>"
