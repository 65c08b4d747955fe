"""/admin/system: every scheduled task's last and next run, failures with their error,
the queue, webhooks failed or waiting, the last ledger check; each row links to act."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.audit.models import AuditLog
from portal.bookings.tasks import complete_ended_lessons
from portal.books import tasks as book_tasks
from portal.books.tasks import verify_ledger
from portal.celery import BEAT_SCHEDULE
from portal.db import utcnow
from portal.extensions import db
from portal.system.models import TaskRun
from portal.system.status import next_run, scheduled_tasks
from portal.webhooks.models import WebhookEvent


def _page(app, login, admin) -> str:
    with app.app_context():
        browser = login(admin)
    with app.app_context():
        response = browser.get("/admin/system/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_fresh_install_lists_every_task_as_never_run(app, login, admin):
    html = _page(app, login, admin)
    for name in BEAT_SCHEDULE:
        assert f'id="task-{name}"' in html
    assert html.count("never</td>") == len(BEAT_SCHEDULE)
    assert "No broker: tasks run in the request." in html
    assert "No task has failed." in html
    assert 'href="/admin/system/"' in html  # in the admin navigation


def test_runs_failures_webhooks_and_the_ledger_check_show(app, login, admin, monkeypatch):
    complete_ended_lessons.apply()
    verify_ledger.apply()
    monkeypatch.setattr(book_tasks, "check_invariants", _broken_check)
    with pytest.raises(RuntimeError):
        verify_ledger.apply()
    monkeypatch.undo()
    for n, status in enumerate(("failed", "received", "received", "processed")):
        db.session.add(
            WebhookEvent(
                stripe_id=f"evt_{n}", type="payment_intent.succeeded", stripe_created=utcnow(),
                payload={}, status=status,
            )
        )  # fmt: skip
    db.session.commit()

    html = _page(app, login, admin)
    row = _row(html, "task-complete_ended_lessons")
    assert "status-succeeded" in row and " ms<" in row
    assert 'href="/admin/lessons?status=scheduled"' in row or "status=scheduled" in row
    failed = _row(html, "task-verify_ledger")
    assert "status-failed" in failed and "error</a>" in failed
    assert "RuntimeError: the check broke" in html
    assert "status=failed" in _block(html, "webhooks-failed") and ">1<" in _block(
        html, "webhooks-failed"
    )
    assert "status=received" in _block(html, "webhooks-waiting")
    assert ">2<" in _block(html, "webhooks-waiting")
    # The last ledger check is the failed one, the link checks again.
    assert "failed" in _block(html, "ledger-check") and "check=now" in _block(html, "ledger-check")


def test_the_last_ledger_check_says_balanced(app, login, admin):
    verify_ledger.apply()
    assert "balanced" in _block(_page(app, login, admin), "ledger-check")


def test_next_run_follows_the_schedule(app):
    now = utcnow().replace(hour=1, minute=50, second=12)
    assert next_run(BEAT_SCHEDULE["verify_ledger"], now) == now.replace(
        hour=2, minute=0, second=0, microsecond=0
    )
    assert next_run(BEAT_SCHEDULE["expire_unpaid_bookings"], now) == now.replace(
        minute=55, second=0, microsecond=0
    )


def test_the_newest_run_of_each_task_is_the_last(app):
    now = utcnow()
    for minutes, outcome in ((30, "failed"), (10, "succeeded")):
        db.session.add(
            TaskRun(
                task_name="sync_payment_status",
                started_at=now - timedelta(minutes=minutes),
                outcome=outcome,
            )
        )
    db.session.commit()
    by_name = {task.name: task for task in scheduled_tasks()}
    assert by_name["sync_payment_status"].last_run.outcome == "succeeded"
    assert by_name["verify_ledger"].last_run is None
    assert by_name["verify_ledger"].schedule == "0 2 * * *"


def test_only_admins(app, login, tutor, student):
    for user in (tutor, student):
        with app.app_context():
            browser = login(user)
        with app.app_context():
            assert browser.get("/admin/system/").status_code == 403


def _broken_check():
    raise RuntimeError("the check broke")


def _row(html: str, row_id: str) -> str:
    start = html.index(f'id="{row_id}"')
    return html[start : html.index("</tr>", start)]


def _block(html: str, block_id: str) -> str:
    start = html.index(f'id="{block_id}"')
    return html[start : html.index("</a>", start)]


def test_run_now_runs_the_task_records_it_and_audits_it(app, login, admin):
    with app.app_context():
        browser = login(admin)
    with app.app_context():
        response = browser.post("/admin/system/tasks/verify_ledger/run")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/system/#task-verify_ledger")
    db.session.expire_all()
    [run] = db.session.scalars(sa.select(TaskRun)).all()
    assert run.task_name == "verify_ledger" and run.outcome == "succeeded"
    [entry] = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "task.run")).all()
    assert entry.object_id == "verify_ledger" and entry.actor_id == admin.id
    with app.app_context():
        assert "verify_ledger ran." in browser.get("/admin/system/").get_data(as_text=True)


def test_run_now_shows_a_failure(app, login, admin, monkeypatch):
    monkeypatch.setattr(book_tasks, "check_invariants", _broken_check)
    with app.app_context():
        browser = login(admin)
    with app.app_context():
        browser.post("/admin/system/tasks/verify_ledger/run")
    with app.app_context():
        html = browser.get("/admin/system/").get_data(as_text=True)
    assert "verify_ledger failed: RuntimeError: the check broke" in html


def test_run_now_knows_only_scheduled_tasks_and_needs_the_csrf_token(app, login, admin):
    with app.app_context():
        browser = login(admin)
    with app.app_context():
        assert browser.post("/admin/system/tasks/ping/run").status_code == 404
    with app.app_context():
        refused = browser.client.post("/admin/system/tasks/verify_ledger/run")
    assert refused.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TaskRun)) == 0


def _beats(now, minutes_ago):
    for minutes in minutes_ago:
        db.session.add(
            TaskRun(
                task_name="beat_heartbeat",
                started_at=now - timedelta(minutes=minutes),
                outcome="succeeded",
            )
        )
    db.session.commit()


def test_the_scheduler_card_says_whether_one_beat_runs(app, login, admin):
    from portal.system.status import scheduler_pulse

    assert scheduler_pulse().state == "never"
    assert "No heartbeat yet: start one beat process." in _page(app, login, admin)
    now = utcnow()
    _beats(now, [9, 8, 7, 6, 5])
    assert scheduler_pulse().state == "silent"
    assert "is beat running?" in _page(app, login, admin)
    _beats(now, [4, 3, 2, 1, 0])
    pulse = scheduler_pulse()
    assert (pulse.state, pulse.beats_lately) == ("alive", 10)
    _beats(now, [0.5, 1.5, 2.5, 3.5, 4.5])  # a second beat process
    assert scheduler_pulse().state == "doubled"
    assert "15 heartbeats in 10 minutes: run exactly one beat." in _page(app, login, admin)


def test_heartbeats_are_kept_a_day(app):
    from portal.system.tasks import prune_task_runs

    now = utcnow()
    _beats(now, [60 * 25, 60 * 23])
    db.session.add(TaskRun(task_name="verify_ledger", started_at=now - timedelta(days=2)))
    db.session.commit()
    assert prune_task_runs.apply().get() == 1
    left = db.session.scalars(sa.select(TaskRun.task_name).order_by(TaskRun.id)).all()
    assert left.count("beat_heartbeat") == 1 and "verify_ledger" in left
