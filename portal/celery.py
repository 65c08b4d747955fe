"""Celery the Flask way: tasks run inside the app context and never import the app.

Without `CELERY_BROKER_URL` tasks run eagerly in process (the embedded default); with it,
Redis carries them to a worker. The beat schedule lives here and nowhere else; queueing a
task for after the commit lives in `portal.after_commit`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import contextmanager
from functools import cached_property
from importlib import import_module
from urllib.parse import urlsplit

from celery import Celery, Task
from celery.schedules import crontab
from flask import Flask
from kombu.transport import redis as kombu_redis

from portal.extensions import db

# Task name -> schedule. Later features add their tasks here.
BEAT_SCHEDULE = {
    "beat_heartbeat": crontab(),  # every minute: the scheduler is alive (system page)
    "complete_ended_lessons": crontab(minute="*/15"),
    "expire_unpaid_bookings": crontab(minute="*/5"),
    "sync_payment_status": crontab(minute="7-59/15"),
    "cleanup_expired_payment_intents": crontab(hour=4, minute=10),  # daily
    "release_pending_earnings": crontab(minute=5),  # hourly
    "issue_tutor_statements": crontab(day_of_month=1, hour=1, minute=0),  # last month's
    "process_auto_payouts": crontab(hour=6, minute=0),  # daily, before the admins' day
    "process_pending_payouts": crontab(hour=6, minute=30),  # daily
    "send_missing_receipts": crontab(minute=35),  # hourly
    "send_missing_invoice_mail": crontab(minute=40),  # hourly
    "send_missing_refund_notices": crontab(minute=50),  # hourly
    "send_overdue_invoice_reminders": crontab(hour=9, minute=0),  # daily, in office hours
    "delete_expired_sessions": crontab(hour=3, minute=15),  # daily
    "verify_ledger": crontab(hour=2, minute=0),  # nightly, the full check of the books
    "prune_task_runs": crontab(hour=2, minute=30),  # nightly
    "prune_idempotency_keys": crontab(hour=2, minute=45),  # nightly
    "sync_subscription_status": crontab(minute=45),  # hourly
    "expire_subscriptions": crontab(hour=1, minute=0),  # daily
    "generate_monthly_invoices": crontab(day_of_month=1, hour=4, minute=0),  # monthly
}


class _Channel(kombu_redis.Channel):
    """Kombu's Redis channel, publishing through one client of the channel's pool.

    The stock channel builds a new Redis client object for every message it sends (the
    connection itself comes from the pool either way); on the webhook route, queueing a
    task paid for that object on every new event. A client is safe to share: it holds
    no connection of its own, only the pool.
    """

    @cached_property
    def _sync_client(self):
        return self._create_client()

    @contextmanager
    def conn_or_acquire(self, client=None):
        yield client or self._sync_client


class RedisTransport(kombu_redis.Transport):
    """The Redis transport with `_Channel` (`redis://` and `rediss://` brokers)."""

    Channel = _Channel


def _transport_for(broker: str | None) -> str | None:
    if broker and urlsplit(broker).scheme in ("redis", "rediss"):
        return f"{__name__}:RedisTransport"
    return None  # the URL's own (memory:// without a broker)


SHOWN_ARGUMENTS = 1024  # characters, as Celery's own limit


def _shown(arguments: tuple | dict) -> str:
    text = repr(arguments)
    return text if len(text) <= SHOWN_ARGUMENTS else text[: SHOWN_ARGUMENTS - 3] + "..."


def _run(task: Task, call: Callable[[], object]) -> object:
    return call()


def celery_init_app(
    app: Flask,
    task_modules: Iterable[str],
    around: Callable[[Task, Callable[[], object]], object] = _run,
) -> Celery:
    """Bind Celery to `app` and register the tasks of `task_modules` (dotted names).

    `around(task, call)` runs each task's body `call` inside the app context (the factory
    passes the recorder of task runs). The factory names the modules and the wrapper, as it
    names the blueprints, so this module depends on no feature and the features' tasks may
    import what they like.
    """

    class FlaskTask(Task):
        def apply_async(self, args=None, kwargs=None, **options):
            # The arguments' text for logs and monitoring: Celery's saferepr of them took a
            # fifth of the time it takes to queue a task; ours are ids and short strings.
            options.setdefault("argsrepr", _shown(tuple(args or ())))
            options.setdefault("kwargsrepr", _shown(dict(kwargs or {})))
            return super().apply_async(args, kwargs, **options)

        def __call__(self, *args, **kwargs):
            with app.app_context():
                try:
                    return around(self, lambda: self.run(*args, **kwargs))
                finally:
                    db.session.remove()

    broker = app.config.get("CELERY_BROKER_URL")
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.conf.update(
        broker_url=broker or "memory://",
        broker_transport=_transport_for(broker),
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
    for name in task_modules:
        import_module(name)
    return celery_app
