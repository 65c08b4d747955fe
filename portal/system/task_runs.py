"""The task wrapper's record of each scheduled task's runs (see `portal.system.models`).

Each run is written on a connection of its own, committed at once: the start before the
task's work, the end after it. So a task that fails and rolls back its own work still
leaves its failure, and a run cut short (a worker killed) stays `running` on the page.
Only the beat schedule's tasks are recorded: those are the jobs an operator must see ran;
the rest (a webhook, a receipt) keep their state on their own rows. Recording never fails
a task: a database that cannot take the record is logged and the task goes on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from time import perf_counter

import sqlalchemy as sa
from celery.exceptions import Retry

from portal.celery import BEAT_SCHEDULE
from portal.db import utcnow
from portal.extensions import db
from portal.system.models import MAX_ERROR_LENGTH, MAX_RESULT_LENGTH, RunOutcome, TaskRun

log = logging.getLogger(__name__)


def run_recorded(task, call: Callable[[], object]) -> object:
    """Run `call` (the body of `task`, inside the app context) and record the run."""
    if task.name not in BEAT_SCHEDULE:
        return call()
    run_id = _start(task.name, task.request.id)
    started = perf_counter()
    try:
        value = call()
    except Retry:
        _end_task_transaction()
        _finish(run_id, started, RunOutcome.RETRIED)
        raise
    except BaseException as exc:
        _end_task_transaction()
        _finish(run_id, started, RunOutcome.FAILED, error=describe_error(exc))
        raise
    result = describe_result(value)
    _end_task_transaction()
    _finish(run_id, started, RunOutcome.SUCCEEDED, result=result)
    return value


def _end_task_transaction() -> None:
    """Drop what the task left uncommitted, as the wrapper would right after: a failed
    task's flushed writes must not hold locks (SQLite's whole database) while its failure
    is written on another connection."""
    db.session.rollback()


def _start(name: str, task_id: str | None) -> int | None:
    try:
        with db.engine.begin() as conn:
            return conn.execute(
                sa.insert(TaskRun)
                .values(task_name=name, task_id=task_id, started_at=utcnow(), outcome="running")
                .returning(TaskRun.id)
            ).scalar_one()
    except sa.exc.SQLAlchemyError:
        log.exception("task run of %s not recorded", name)
        return None


def _finish(run_id, started, outcome, *, error=None, result=None) -> None:
    if run_id is None:
        return
    values = {
        "finished_at": utcnow(),
        "duration_ms": round((perf_counter() - started) * 1000),
        "outcome": str(outcome),
        "error": error,
        "result": result,
    }
    try:
        with db.engine.begin() as conn:
            conn.execute(sa.update(TaskRun).where(TaskRun.id == run_id).values(**values))
    except sa.exc.SQLAlchemyError:
        log.exception("task run %s not finished", run_id)


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]


def describe_result(value) -> str | None:
    if value is None:
        return None
    return json.dumps(value, default=str, sort_keys=True)[:MAX_RESULT_LENGTH]
