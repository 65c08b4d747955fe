"""The task wrapper keeps each scheduled task's runs; verify_ledger checks the books nightly;
old runs are pruned."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.bookings.tasks import complete_ended_lessons
from portal.books import tasks as book_tasks
from portal.books.tasks import verify_ledger
from portal.celery import BEAT_SCHEDULE
from portal.db import utcnow
from portal.extensions import db, mail
from portal.system.models import TaskRun
from portal.system.tasks import ping, prune_task_runs
from portal.wallets.earnings import process_lesson_earning


def _runs(name: str) -> list[TaskRun]:
    db.session.expire_all()
    return db.session.scalars(sa.select(TaskRun).where(TaskRun.task_name == name)).all()


def test_every_scheduled_task_is_registered(app):
    registered = app.extensions["celery"].tasks
    assert {"verify_ledger", "prune_task_runs"} <= set(BEAT_SCHEDULE)
    assert set(BEAT_SCHEDULE) <= set(registered)


def test_a_scheduled_run_is_kept_with_its_outcome_duration_and_result(app):
    assert complete_ended_lessons.apply().get() == 0
    [run] = _runs("complete_ended_lessons")
    assert run.outcome == "succeeded"
    assert run.finished_at >= run.started_at
    assert run.duration_ms is not None and run.duration_ms >= 0
    assert run.result == "0" and run.error is None
    assert run.task_id


def test_a_failed_run_keeps_its_error_while_its_work_rolls_back(app, tutor, monkeypatch):
    def broken():
        process_lesson_earning(
            tutor_id=tutor.id, gross=4500, fee=675, idempotency_key="pay:9", payment_id=9
        )
        db.session.flush()
        raise RuntimeError("the check broke")

    monkeypatch.setattr(book_tasks, "check_invariants", broken)
    with pytest.raises(RuntimeError, match="the check broke"):
        verify_ledger.apply()
    db.session.rollback()
    [run] = _runs("verify_ledger")
    assert run.outcome == "failed"
    assert run.error == "RuntimeError: the check broke"
    assert run.result is None and run.duration_ms is not None
    assert db.session.scalar(sa.text("SELECT count(*) FROM ledger_entries")) == 0


def test_tasks_outside_the_schedule_are_not_recorded(app):
    assert ping.apply(args=["x"]).get() == {"value": "x", "db": 1}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TaskRun)) == 0


def test_verify_ledger_on_balanced_books_sends_nothing(app, admin, tutor):
    process_lesson_earning(
        tutor_id=tutor.id, gross=4500, fee=675, idempotency_key="pay:1", payment_id=1
    )
    db.session.commit()
    with mail.record_messages() as outbox:
        assert verify_ledger.apply().get() == {"drifts": 0}
    assert outbox == []
    [run] = _runs("verify_ledger")
    assert json.loads(run.result) == {"drifts": 0}


def test_verify_ledger_emails_the_admins_each_drift(app, admin, tutor):
    process_lesson_earning(
        tutor_id=tutor.id, gross=4500, fee=675, idempotency_key="pay:1", payment_id=1
    )
    db.session.execute(sa.text("UPDATE tutor_wallets SET pending = pending + 1"))
    db.session.commit()
    with mail.record_messages() as outbox:
        result = verify_ledger.apply().get()
    assert result["drifts"] >= 1
    [message] = outbox
    assert message.recipients == [admin.email]
    assert message.subject == f"Ledger check: {result['drifts']} drift(s) found"
    assert "wallet differs from its postings" in message.body
    assert "/admin/ledger/?check=now" in message.body
    [run] = _runs("verify_ledger")
    assert run.outcome == "succeeded" and json.loads(run.result) == result


def test_verify_ledger_fails_when_the_alert_cannot_be_sent(app, admin, tutor, monkeypatch):
    process_lesson_earning(
        tutor_id=tutor.id, gross=4500, fee=675, idempotency_key="pay:1", payment_id=1
    )
    db.session.execute(sa.text("UPDATE tutor_wallets SET pending = pending + 1"))
    db.session.commit()

    def refuse(message):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(mail, "send", refuse)
    with pytest.raises(RuntimeError):
        verify_ledger.apply()
    [run] = _runs("verify_ledger")
    assert run.outcome == "failed"
    assert "drift(s) found; the alert was not sent" in run.error


def test_prune_deletes_only_runs_older_than_the_setting(app):
    now = utcnow()
    days = app.config["TASK_RUN_KEEP_DAYS"]
    for age in (days + 1, days - 1):
        db.session.add(
            TaskRun(
                task_name="verify_ledger", started_at=now - timedelta(days=age), outcome="succeeded"
            )
        )
    db.session.commit()
    assert prune_task_runs.apply().get() == 1
    ages = sorted((now - run.started_at).days for run in _runs("verify_ledger"))
    # The one left, and the prune's own run (recorded as a run of prune_task_runs).
    assert ages == [days - 1]
    assert [run.outcome for run in _runs("prune_task_runs")] == ["succeeded"]
