"""Processing: each event through the payment services, against localstripe.

The payment intents and refunds are real localstripe objects; the events are signed
offline with the same secret the portal checks, as Stripe would send them.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.bookings.models import BookingStatus
from portal.extensions import db
from portal.payments.models import PaymentStatus
from portal.wallets.models import TutorWallet
from portal.webhooks import handlers
from portal.webhooks.models import EventStatus
from portal.webhooks.tasks import MAX_RETRIES
from tests.support.localstripe import DECLINED_AT_CHARGE
from tests.webhooks.conftest import (
    charge_refunded_event,
    event_body,
    intent_event,
    ledger_entries,
    plain_invoice,
    stored,
)

pytestmark = pytest.mark.stripe


def test_payment_succeeded_settles_the_payment_once(new_lesson, deliver):
    lesson = new_lesson()
    lesson.pay_at_stripe()
    event = intent_event("payment_intent.succeeded", lesson)
    assert deliver(event).status_code == 200
    assert deliver(event).get_json()["duplicate"] is True
    payment = lesson.refresh()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.booking.status == BookingStatus.SCHEDULED
    assert [e.idempotency_key for e in ledger_entries(payment)] == [
        f"payment:{payment.uuid}:captured"
    ]
    row = stored(event["id"])
    assert (row.status, row.attempts) == (EventStatus.PROCESSED, 1)
    assert "pending → succeeded" in row.result


def test_two_events_for_one_success_post_to_the_ledger_once(new_lesson, deliver):
    lesson = new_lesson()
    lesson.pay_at_stripe()
    first = intent_event("payment_intent.succeeded", lesson)
    second = intent_event("payment_intent.succeeded", lesson)
    deliver(first), deliver(second)
    assert len(ledger_entries(lesson.refresh())) == 1
    assert "stays succeeded" in stored(second["id"]).result


def test_a_declined_card_fails_the_payment_with_stripes_reason(new_lesson, deliver):
    lesson = new_lesson()
    lesson.pay_at_stripe(DECLINED_AT_CHARGE)
    event = intent_event("payment_intent.payment_failed", lesson)
    deliver(event)
    payment = lesson.refresh()
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_message
    assert ledger_entries(payment) == []
    assert stored(event["id"]).status == EventStatus.PROCESSED


def _stale_failure(lesson) -> dict:
    """A payment_failed whose payload is an older snapshot: the first card was declined."""
    event = intent_event("payment_intent.payment_failed", lesson, created=1_000)
    event["data"]["object"].update(
        status="requires_payment_method",
        last_payment_error={"code": "card_declined", "message": "Your card was declined."},
    )
    return event


@pytest.mark.parametrize("late", [True, False], ids=["after-success", "before-success"])
def test_a_stale_failure_never_undoes_a_newer_success(new_lesson, deliver, late):
    lesson = new_lesson()
    lesson.pay_at_stripe()
    failed = _stale_failure(lesson)
    succeeded = intent_event("payment_intent.succeeded", lesson)
    for event in (succeeded, failed) if late else (failed, succeeded):
        deliver(event)
    payment = lesson.refresh()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.failure_message is None
    assert len(ledger_entries(payment)) == 1
    assert stored(failed["id"]).status == EventStatus.PROCESSED


def _final_state(lesson) -> dict:
    payment = lesson.refresh()
    wallet = db.session.scalar(
        sa.select(TutorWallet).where(TutorWallet.tutor_id == payment.recipient_id)
    )
    return {
        "status": payment.status,
        "refunded": payment.amount_refunded,
        "fee_refunded": payment.fee_refunded,
        "booking": payment.booking.status,
        "entries": [e.kind for e in ledger_entries(payment)],
        "refunds": sorted((r.amount, r.fee_part, r.net_part) for r in payment.refunds),
        "pending": wallet.pending,
        "available": wallet.available,
    }


def _refunded_lesson(new_lesson, amount: int):
    lesson = new_lesson()
    lesson.pay_at_stripe()
    succeeded = intent_event("payment_intent.succeeded", lesson)
    lesson.refund_at_stripe(amount, key=f"dash-{lesson.payment.uuid}")
    return lesson, succeeded, charge_refunded_event(lesson)


@pytest.mark.parametrize("amount", [1000, 4500], ids=["partial", "full"])
def test_a_refund_before_the_success_ends_as_in_order(new_lesson, deliver, amount):
    in_order, succeeded, refunded = _refunded_lesson(new_lesson, amount)
    deliver(succeeded), deliver(refunded)
    reversed_, succeeded_late, refunded_early = _refunded_lesson(new_lesson, amount)
    deliver(refunded_early), deliver(succeeded_late)

    expected = _final_state(in_order)
    assert _final_state(reversed_) == expected
    assert expected["refunded"] == amount
    assert expected["entries"] == ["lesson_earning", "refund"]
    assert stored(refunded_early["id"]).status == EventStatus.PROCESSED
    assert stored(succeeded_late["id"]).status == EventStatus.PROCESSED


def test_a_refund_event_seen_twice_refunds_once(new_lesson, deliver):
    lesson, succeeded, refunded = _refunded_lesson(new_lesson, 1000)
    deliver(succeeded), deliver(refunded)
    again = charge_refunded_event(lesson)
    deliver(again)
    payment = lesson.refresh()
    assert (payment.amount_refunded, len(payment.refunds)) == (1000, 1)
    assert [e.kind for e in ledger_entries(payment)] == ["lesson_earning", "refund"]


def test_an_event_for_a_payment_we_do_not_know_fails_with_the_reason(deliver, localstripe):
    event = event_body("payment_intent.succeeded", {"id": "pi_unknown", "object": "payment_intent"})
    assert deliver(event).status_code == 200
    row = stored(event["id"])
    assert row.status == EventStatus.FAILED
    assert row.last_error == "No payment here for payment intent pi_unknown."
    assert row.attempts == 1  # not worth a retry


@pytest.mark.parametrize(
    ("type_", "obj", "reason"),
    [
        ("payment_intent.succeeded", None, "no data.object"),
        ("payment_intent.succeeded", {"id": 7}, "data.object.id is not a pi_"),
        ("payment_intent.payment_failed", {"id": "ch_1"}, "not a pi_"),
        ("charge.refunded", {"id": "ch_1", "payment_intent": None}, "payment_intent is not"),
        ("charge.refunded", {"id": "ch_1", "payment_intent": ["pi_1"]}, "payment_intent is not"),
        ("checkout.session.completed", {"id": "cs_1", "mode": "payment"}, "No payment here"),
        ("checkout.session.completed", "cs_1", "no data.object"),
    ],
)
def test_an_event_with_an_unexpected_shape_fails_with_the_reason(deliver, type_, obj, reason):
    event = event_body(type_, obj)
    assert deliver(event).status_code == 200
    row = stored(event["id"])
    assert row.status == EventStatus.FAILED
    assert reason in row.last_error


def test_a_refund_of_a_payment_that_never_went_through_fails(new_lesson, deliver):
    lesson = new_lesson()
    charge = {"id": "ch_x", "object": "charge", "payment_intent": lesson.intent_id}
    event = event_body("charge.refunded", charge)
    deliver(event)
    row = stored(event["id"])
    assert row.status == EventStatus.FAILED
    assert "A refund needs a payment that went through" in row.last_error
    assert lesson.refresh().status == PaymentStatus.PENDING


def test_a_handler_that_raises_is_failed_retried_then_processed_after_replay(
    new_lesson, deliver, monkeypatch
):
    lesson = new_lesson()
    lesson.pay_at_stripe()
    calls = []
    real = handlers.HANDLERS["payment_intent.succeeded"]

    def broken(event):
        calls.append(event.id)
        real(event)  # the success is applied, then rolled back with the failure
        raise RuntimeError("the ledger is down")

    monkeypatch.setitem(handlers.HANDLERS, "payment_intent.succeeded", broken)
    event = intent_event("payment_intent.succeeded", lesson)
    assert deliver(event).status_code == 200
    row = stored(event["id"])
    assert (row.status, row.attempts) == (EventStatus.FAILED, 1 + MAX_RETRIES)
    assert row.last_error == "RuntimeError: the ledger is down"
    assert len(calls) == 1 + MAX_RETRIES
    assert lesson.refresh().status == PaymentStatus.PENDING
    assert ledger_entries(lesson.payment) == []

    monkeypatch.setitem(handlers.HANDLERS, "payment_intent.succeeded", real)
    from portal.webhooks.tasks import run_event

    assert run_event(row.id, replay=True).status == EventStatus.PROCESSED
    row = stored(event["id"])
    assert (row.status, row.attempts, row.last_error) == (
        EventStatus.PROCESSED,
        2 + MAX_RETRIES,
        None,
    )
    assert lesson.refresh().status == PaymentStatus.SUCCEEDED
    assert len(ledger_entries(lesson.payment)) == 1


def test_stripe_unreachable_is_retried_not_given_up(app, new_lesson, deliver, monkeypatch):
    lesson = new_lesson()
    lesson.pay_at_stripe()
    monkeypatch.setitem(app.extensions, "payment_provider", _unreachable_provider(app))
    event = intent_event("payment_intent.succeeded", lesson)
    deliver(event)
    row = stored(event["id"])
    assert (row.status, row.attempts) == (EventStatus.FAILED, 1 + MAX_RETRIES)
    assert row.last_error.startswith("gateway_error:")
    monkeypatch.delitem(app.extensions, "payment_provider")
    from portal.webhooks.tasks import run_event

    assert run_event(row.id).status == EventStatus.PROCESSED
    assert lesson.refresh().status == PaymentStatus.SUCCEEDED


def _unreachable_provider(app):
    """The real Stripe provider pointed at a port nobody listens on."""
    from portal.providers.stripe import StripeProvider
    from tests.support.servers import free_port

    config = dict(app.config, STRIPE_API_BASE=f"http://127.0.0.1:{free_port()}")
    return StripeProvider.from_config(config)


def test_replaying_a_processed_event_changes_nothing(new_lesson, deliver):
    from portal.webhooks.tasks import run_event

    lesson = new_lesson()
    lesson.pay_at_stripe()
    event = intent_event("payment_intent.succeeded", lesson)
    deliver(event)
    row = stored(event["id"])
    assert run_event(row.id).status == EventStatus.PROCESSED  # not run again
    assert stored(event["id"]).attempts == 1
    assert run_event(row.id, replay=True).status == EventStatus.PROCESSED
    assert stored(event["id"]).attempts == 2
    assert len(ledger_entries(lesson.refresh())) == 1


@pytest.mark.parametrize(
    ("type_", "obj"),
    [
        ("invoice.paid", plain_invoice()),
        ("invoice.payment_failed", plain_invoice(status="open")),
        ("checkout.session.completed", {"id": "cs_1", "mode": "setup"}),
    ],
)
def test_invoices_of_no_subscription_and_other_checkouts_are_recorded(deliver, type_, obj):
    event = event_body(type_, obj)
    deliver(event)
    row = stored(event["id"])
    assert row.status == EventStatus.PROCESSED
    assert "ecorded" in row.result


@pytest.mark.parametrize(
    ("type_", "obj"),
    [
        ("customer.subscription.updated", {"id": "cus_1", "status": "active"}),
        ("invoice.paid", {"id": "sub_1"}),
        ("invoice.paid", None),
    ],
)
def test_subscription_events_of_an_unexpected_shape_fail_for_good(deliver, type_, obj):
    event = event_body(type_, obj)
    deliver(event)
    row = stored(event["id"])
    assert row.status == EventStatus.FAILED and row.retry_at is None
    assert "Unexpected shape" in row.last_error


def test_the_replay_command_processes_a_stored_event(app, new_lesson, deliver, monkeypatch):
    lesson = new_lesson()
    lesson.pay_at_stripe()
    monkeypatch.setitem(handlers.HANDLERS, "payment_intent.succeeded", _raise)
    event = intent_event("payment_intent.succeeded", lesson)
    deliver(event)
    runner = app.test_cli_runner()
    failed = runner.invoke(args=["webhooks", "replay", event["id"]])
    assert failed.exit_code == 1
    assert "RuntimeError: boom" in failed.output
    monkeypatch.undo()
    result = runner.invoke(args=["webhooks", "replay", event["id"]])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{event['id']}: processed"
    assert lesson.refresh().status == PaymentStatus.SUCCEEDED
    missing = runner.invoke(args=["webhooks", "replay", "evt_nope"])
    assert missing.exit_code == 1
    assert "No stored event evt_nope" in missing.output


def _raise(event):
    raise RuntimeError("boom")
