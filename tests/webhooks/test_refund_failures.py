"""A refund that fails after it was recorded (the card was closed, say): Stripe reports it
with `charge.refund.updated` / `refund.failed`, and the portal undoes it.

The payments and refunds are real localstripe objects. localstripe never fails a refund,
so Stripe's answer to "list this intent's refunds" is a recorded failed refund with this
test's ids filled in, served in front of localstripe.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.audit.models import AuditLog
from portal.bookings.models import BookingStatus
from portal.books.checks import check_invariants
from portal.extensions import db
from portal.payments.models import PaymentStatus, RefundStatus
from portal.wallets.summary import get_wallet_summary
from portal.webhooks.models import EventStatus
from tests.support.stripe_replay import recorded
from tests.webhooks.conftest import (
    charge_refunded_event,
    event_body,
    fail_at_stripe,
    intent_event,
    ledger_entries,
    stored,
)

pytestmark = pytest.mark.stripe


def pending_and_available(lesson) -> tuple[int, int]:
    summary = get_wallet_summary(lesson.booking.tutor_id)
    return summary.pending, summary.available


def test_a_full_refund_that_fails_is_undone(refunded, stripe_replay, deliver):
    lesson, refund = refunded(4500)
    assert lesson.payment.status == PaymentStatus.REFUNDED
    assert pending_and_available(lesson) == (0, 0)

    event = event_body("charge.refund.updated", fail_at_stripe(stripe_replay, lesson, refund))
    assert deliver(event).status_code == 200

    payment = lesson.refresh()
    assert (payment.status, payment.amount_refunded, payment.fee_refunded) == (
        PaymentStatus.SUCCEEDED,
        0,
        0,
    )
    assert [r.status for r in payment.refunds] == [RefundStatus.FAILED]
    # The tutor's share is back where the refund took it from.
    assert pending_and_available(lesson) == (3825, 0)
    assert [e.kind for e in ledger_entries(payment)] == [
        "lesson_earning",
        "refund",
        "refund_reversed",
    ]
    # The lesson the refund cancelled stays cancelled; the student is still owed the money.
    assert payment.booking.status == BookingStatus.CANCELLED
    row = stored(event["id"])
    assert row.status == EventStatus.PROCESSED
    assert f"{refund.id} failed" in row.result
    audit = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action == "payment.refund_failed")
    ).all()
    assert [(a.object_id, a.after["amount_refunded"]) for a in audit] == [(str(payment.uuid), 0)]
    assert check_invariants() == []


def test_a_failed_refund_reported_twice_is_undone_once(refunded, stripe_replay, deliver):
    lesson, refund = refunded(1000)
    failed = fail_at_stripe(stripe_replay, lesson, refund)
    deliver(event_body("refund.failed", failed))
    deliver(event_body("charge.refund.updated", failed))
    deliver(charge_refunded_event(lesson))  # a late charge.refunded changes nothing either
    payment = lesson.refresh()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.SUCCEEDED, 0)
    assert [e.kind for e in ledger_entries(payment)] == [
        "lesson_earning",
        "refund",
        "refund_reversed",
    ]
    assert pending_and_available(lesson) == (3825, 0)


def test_a_failed_partial_refund_leaves_the_other_refund(refunded, stripe_replay, deliver):
    lesson, first = refunded(1000)
    second = lesson.refund_at_stripe(500, key=f"dash2-{lesson.payment.uuid}")
    deliver(charge_refunded_event(lesson))
    assert lesson.refresh().amount_refunded == 1500

    listing = recorded("refund_list_failed")
    failed = {**fail_at_stripe(stripe_replay, lesson, first)}
    ok = {**failed, "id": second.id, "amount": 500, "status": "succeeded", "failure_reason": None}
    # Stripe lists newest first.
    stripe_replay.answer_json("GET", "/v1/refunds", {**listing, "data": [ok, failed]})
    deliver(event_body("charge.refund.updated", failed))

    payment = lesson.refresh()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.PARTIALLY_REFUNDED, 500)
    assert sorted((r.amount, r.status) for r in payment.refunds) == [
        (500, RefundStatus.SUCCEEDED),
        (1000, RefundStatus.FAILED),
    ]
    assert pending_and_available(lesson) == (3825 - 425, 0)
    assert check_invariants() == []


def test_a_stale_failure_in_the_payload_does_not_undo_a_refund_stripe_paid(refunded, deliver):
    # The payload says failed, Stripe (asked again) says succeeded: Stripe wins.
    lesson, refund = refunded(4500)
    stale = {**recorded("refund_list_failed")["data"][0], "id": refund.id}
    stale["payment_intent"] = lesson.intent_id
    event = event_body("charge.refund.updated", stale)
    deliver(event)
    payment = lesson.refresh()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.REFUNDED, 4500)
    assert [r.status for r in payment.refunds] == [RefundStatus.SUCCEEDED]
    assert stored(event["id"]).status == EventStatus.PROCESSED


@pytest.mark.parametrize(
    "obj, reason",
    [
        ({"id": "ch_1", "payment_intent": "pi_1"}, "data.object.id is not a re_"),
        ({"id": "re_1", "payment_intent": None}, "payment_intent is not"),
        ({"id": "re_1", "payment_intent": "pi_nobody"}, "No payment here"),
    ],
)
def test_a_refund_update_we_cannot_apply_is_failed_with_the_reason(
    obj, reason, deliver, localstripe
):
    event = event_body("charge.refund.updated", obj)
    assert deliver(event).status_code == 200
    row = stored(event["id"])
    assert row.status == EventStatus.FAILED
    assert reason in row.last_error


def test_a_refund_waiting_at_stripe_counts_as_pending_then_goes_through(
    new_lesson, deliver, stripe_replay
):
    lesson = new_lesson()
    lesson.pay_at_stripe()
    deliver(intent_event("payment_intent.succeeded", lesson))
    refund = lesson.refund_at_stripe(2000, key=f"dash-{lesson.payment.uuid}")
    listing = recorded("refund_list_failed")
    waiting = {
        **listing["data"][0],
        "id": refund.id,
        "amount": 2000,
        "payment_intent": lesson.intent_id,
        "status": "requires_action",
        "failure_reason": None,
    }
    stripe_replay.answer_json("GET", "/v1/refunds", {**listing, "data": [waiting]})
    deliver(charge_refunded_event(lesson))
    payment = lesson.refresh()
    # Counted as refunded while it waits: a refund is rarely refused.
    assert (payment.amount_refunded, [r.status for r in payment.refunds]) == (
        2000,
        [RefundStatus.PENDING],
    )

    paid = {**waiting, "status": "succeeded"}
    stripe_replay.answer_json("GET", "/v1/refunds", {**listing, "data": [paid]})
    deliver(event_body("charge.refund.updated", paid))
    payment = lesson.refresh()
    assert (payment.amount_refunded, [r.status for r in payment.refunds]) == (
        2000,
        [RefundStatus.SUCCEEDED],
    )
    assert [e.kind for e in ledger_entries(payment)] == ["lesson_earning", "refund"]


def test_the_payer_and_the_admins_are_told(refunded, stripe_replay, deliver, login, admin):
    lesson, refund = refunded(4500)
    deliver(event_body("refund.failed", fail_at_stripe(stripe_replay, lesson, refund)))
    payment = lesson.refresh()

    page = login(lesson.student).get(f"/billing/payments/{payment.uuid}").get_data(as_text=True)
    assert "A refund of $45.00 could not be paid back to your card" in page

    listing = login(admin).get("/admin/payments").get_data(as_text=True)
    assert "Refunds that failed at Stripe" in listing
    assert f"/admin/payments/{payment.uuid}" in listing
    detail = login(admin).get(f"/admin/payments/{payment.uuid}").get_data(as_text=True)
    assert "failed" in detail and "Up to $45.00 remains" in detail


def test_a_failed_refund_stays_listed_until_refunds_made_after_it_cover_it(
    new_lesson, deliver, stripe_replay, admin
):
    from portal.payments.refunds import process_refund
    from portal.payments.reports import failed_refunds

    lesson = new_lesson()
    lesson.pay_at_stripe()
    deliver(intent_event("payment_intent.succeeded", lesson))
    first = lesson.refund_at_stripe(1000, key=f"dash1-{lesson.payment.uuid}")
    second = lesson.refund_at_stripe(500, key=f"dash2-{lesson.payment.uuid}")
    deliver(charge_refunded_event(lesson))
    # The earlier, larger refund fails after the later one went through.
    listing = recorded("refund_list_failed")
    failed = fail_at_stripe(stripe_replay, lesson, first)
    ok = {**failed, "id": second.id, "amount": 500, "status": "succeeded", "failure_reason": None}
    stripe_replay.answer_json("GET", "/v1/refunds", {**listing, "data": [ok, failed]})
    deliver(event_body("refund.failed", failed))
    assert [r.provider_refund_id for r in failed_refunds()] == [first.id]

    # Half of it refunded again: still owed. The rest: off the list.
    process_refund(admin, lesson.payment.uuid, amount=500, reason="Card closed: again")
    db.session.commit()
    assert [r.provider_refund_id for r in failed_refunds()] == [first.id]
    process_refund(admin, lesson.payment.uuid, amount=500, reason="Card closed: the rest")
    db.session.commit()
    assert failed_refunds() == []
