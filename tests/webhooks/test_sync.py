"""`sync_payment_status`: the webhooks that never came are caught by asking Stripe."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.bookings.models import BookingStatus
from portal.db import utcnow
from portal.extensions import db
from portal.payments.models import PaymentStatus
from portal.webhooks.models import EventStatus
from portal.webhooks.tasks import SYNC_WINDOW, sync_payment_status
from tests.support.localstripe import DECLINED_AT_CHARGE
from tests.webhooks.conftest import event_body, ledger_entries, plain_invoice, stored

pytestmark = pytest.mark.stripe


def _age(lesson, minutes: float) -> None:
    lesson.payment.created_at = utcnow() - timedelta(minutes=minutes)
    db.session.commit()


def _run() -> str:
    result = sync_payment_status.apply()
    assert result.successful(), result.traceback
    return result.result


def test_a_missed_success_is_settled_through_the_success_path(app, new_lesson):
    lesson = new_lesson()
    lesson.pay_at_stripe()  # Stripe's webhook never arrives
    _age(lesson, app.config["PAYMENT_SYNC_AFTER_MINUTES"] + 1)
    summary = _run()
    payment = lesson.refresh()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.booking.status == BookingStatus.SCHEDULED
    assert [e.kind for e in ledger_entries(payment)] == ["lesson_earning"]
    assert summary == "pending payments checked: 1 succeeded; events re-queued: 0"
    _run()
    assert len(ledger_entries(lesson.refresh())) == 1


def test_a_missed_failure_is_settled_through_the_failure_path(app, new_lesson):
    lesson = new_lesson()
    lesson.pay_at_stripe(DECLINED_AT_CHARGE)
    _age(lesson, app.config["PAYMENT_SYNC_AFTER_MINUTES"] + 1)
    _run()
    payment = lesson.refresh()
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_message


def test_young_old_and_unpaid_payments_are_left_alone(app, new_lesson):
    young, ancient, unpaid = new_lesson(), new_lesson(), new_lesson()
    young.pay_at_stripe()
    ancient.pay_at_stripe()
    _age(young, app.config["PAYMENT_SYNC_AFTER_MINUTES"] - 1)
    _age(ancient, SYNC_WINDOW.total_seconds() / 60 + 1)
    _age(unpaid, app.config["PAYMENT_SYNC_AFTER_MINUTES"] + 1)
    assert _run() == "pending payments checked: 1 pending; events re-queued: 0"
    assert young.refresh().status == PaymentStatus.PENDING
    assert ancient.refresh().status == PaymentStatus.PENDING
    assert unpaid.refresh().status == PaymentStatus.PENDING


def test_one_payment_stripe_cannot_answer_for_does_not_stop_the_others(app, new_lesson):
    broken, good = new_lesson(), new_lesson()
    good.pay_at_stripe()
    broken.payment.provider_payment_id = "pi_gone"
    db.session.commit()
    _age(broken, app.config["PAYMENT_SYNC_AFTER_MINUTES"] + 2)
    _age(good, app.config["PAYMENT_SYNC_AFTER_MINUTES"] + 1)
    assert _run() == "pending payments checked: 1 errors, 1 succeeded; events re-queued: 0"
    assert good.refresh().status == PaymentStatus.SUCCEEDED
    assert broken.refresh().status == PaymentStatus.PENDING


def test_an_event_stored_but_never_processed_is_queued_again(app, deliver, monkeypatch):
    from portal.webhooks import tasks

    monkeypatch.setattr(tasks.process_webhook_event, "delay", lambda *a, **k: None)
    event = event_body("invoice.paid", plain_invoice("in_5"))
    deliver(event)  # its task is lost, as with a broker outage
    row = stored(event["id"])
    assert row.status == EventStatus.RECEIVED
    monkeypatch.undo()
    assert _run().endswith("events re-queued: 0")  # not yet: it may still be on its way
    row.received_at = utcnow() - timedelta(minutes=app.config["PAYMENT_SYNC_AFTER_MINUTES"] + 1)
    db.session.commit()
    assert _run().endswith("events re-queued: 1")
    assert stored(event["id"]).status == EventStatus.PROCESSED


def test_the_task_is_on_the_beat_schedule_and_runs_from_the_command_line(app, localstripe):
    from portal.celery import BEAT_SCHEDULE

    assert "sync_payment_status" in BEAT_SCHEDULE
    result = app.test_cli_runner().invoke(args=["tasks", "run", "sync_payment_status"])
    assert result.exit_code == 0, result.output
    assert "pending payments checked: none" in result.output


def test_a_failure_that_may_pass_is_tried_again_by_the_sweep_a_final_one_is_not(
    new_lesson, deliver, monkeypatch
):
    from portal.webhooks import handlers
    from tests.webhooks.conftest import charge_refunded_event, intent_event

    lesson = new_lesson()
    lesson.pay_at_stripe()
    real = handlers.HANDLERS["payment_intent.succeeded"]

    def stripe_down(event):
        raise RuntimeError("Stripe is down for longer than the retries")

    monkeypatch.setitem(handlers.HANDLERS, "payment_intent.succeeded", stripe_down)
    may_pass = intent_event("payment_intent.succeeded", lesson)
    deliver(may_pass)
    final = charge_refunded_event(lesson)  # no refund went through: cannot apply, ever
    final["data"]["object"]["payment_intent"] = None
    deliver(final)
    row = stored(may_pass["id"])
    assert row.status == EventStatus.FAILED and row.retry_at > utcnow()
    assert stored(final["id"]).retry_at is None

    monkeypatch.setitem(handlers.HANDLERS, "payment_intent.succeeded", real)
    row.retry_at = utcnow() - timedelta(minutes=1)  # an hour later
    db.session.commit()
    assert "events re-queued: 1" in sync_payment_status.apply().get()
    row = stored(may_pass["id"])
    assert (row.status, row.retry_at) == (EventStatus.PROCESSED, None)
    assert lesson.refresh().status == PaymentStatus.SUCCEEDED
    assert stored(final["id"]).status == EventStatus.FAILED
