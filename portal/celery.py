"""Celery the Flask way: tasks run inside the app context and never import the app.

Without `CELERY_BROKER_URL` tasks run eagerly in process (the embedded default); with it,
Redis carries them to a worker. The beat schedule lives here and nowhere else.
"""

from __future__ import annotations

import logging

import sqlalchemy.orm as so
from celery import Celery, Task
from celery.schedules import crontab
from flask import Flask
from kombu.exceptions import OperationalError
from sqlalchemy import event as sa_event

from portal.extensions import db

log = logging.getLogger(__name__)

# Task name -> schedule. Later features add their tasks here.
BEAT_SCHEDULE = {
    "complete_ended_lessons": crontab(minute="*/15"),
    "expire_unpaid_bookings": crontab(minute="*/5"),
    "sync_payment_status": crontab(minute="7-59/15"),
    "release_pending_earnings": crontab(minute=5),  # hourly
    "process_auto_payouts": crontab(hour=6, minute=0),  # daily, before the admins' day
    "process_pending_payouts": crontab(hour=6, minute=30),  # daily
    "send_missing_receipts": crontab(minute=35),  # hourly
    "delete_expired_sessions": crontab(hour=3, minute=15),  # daily
}


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                try:
                    return self.run(*args, **kwargs)
                finally:
                    db.session.remove()

    broker = app.config.get("CELERY_BROKER_URL")
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.conf.update(
        broker_url=broker or "memory://",
        result_backend=app.config.get("CELERY_RESULT_BACKEND") or (broker and broker) or None,
        task_always_eager=not broker,
        task_eager_propagates=True,
        task_ignore_result=False,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        timezone="UTC",
        beat_schedule={
            name: {"task": name, "schedule": schedule} for name, schedule in BEAT_SCHEDULE.items()
        },
    )
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    import portal.tasks  # noqa: F401 - registers every feature's tasks

    return celery_app


def enqueue_after_commit(task, *args, **kwargs) -> None:
    """Send `task` once the current transaction commits, so the worker sees our rows.

    A rollback drops what was queued: no task runs for a change that never happened.
    """
    db.session.info.setdefault("portal_after_commit", []).append((task, args, kwargs))


@sa_event.listens_for(so.Session, "after_commit")
def _send_queued(session) -> None:
    for task, args, kwargs in session.info.pop("portal_after_commit", []):
        try:
            task.delay(*args, **kwargs)
        except OperationalError:
            # The change is committed; an unreachable broker must not turn it into an
            # error. Receipts and webhook events have sweeps that find the work undone;
            # a payout e-mail is lost (the tutor's page shows the change).
            log.warning("%s not queued: the broker is unreachable", task.name)


@sa_event.listens_for(so.Session, "after_soft_rollback")
def _drop_queued(session, previous_transaction) -> None:
    session.info.pop("portal_after_commit", None)
