"""Renewal day: the run of one paid-invoice event takes the others waiting untried with it,
in one transaction, and numbers their invoices at once right before the commit; one
that fails sends every event of the batch back to run alone."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.invoices.models import Invoice, InvoiceStatus
from portal.invoices.tasks import send_payment_receipts
from portal.subscriptions.models import SubscriptionPeriod
from portal.webhooks.models import EventStatus, WebhookEvent
from portal.webhooks.services import lock_state
from portal.webhooks.tasks import TAKEN, run_event
from tests import factories
from tests.subscriptions.money_support import make_plan, subscribe
from tests.support.ledger import assert_ledger_ok
from tests.support.races import at_once


def _renewal_event(n: int, subscription, *, event_type="invoice.paid", copy=0) -> WebhookEvent:
    start = subscription.current_period_end
    stamp, end = int(start.timestamp()), int((start + timedelta(days=30)).timestamp())
    invoice = {
        "id": f"in_renew{n}", "object": "invoice", "status": "paid",
        "subscription": subscription.provider_subscription_id, "amount_paid": 20000,
        "currency": "usd", "status_transitions": {"paid_at": stamp},
        "lines": {"object": "list", "has_more": False,
                  "data": [{"period": {"start": stamp, "end": end}, "proration": False}]},
    }  # fmt: skip
    stripe_id = f"evt_renew{n}_{copy}"
    event = WebhookEvent(
        stripe_id=stripe_id, type=event_type, object_id=invoice["id"], stripe_created=start,
        payload={"id": stripe_id, "type": event_type, "created": stamp,
                 "data": {"object": invoice}},
    )  # fmt: skip
    db.session.add(event)
    return event


def _subscriptions(count: int, first: int = 0) -> list:
    plan = make_plan(price=20000, lessons=4)
    subscriptions = []
    for n in range(first, first + count):
        subscription = subscribe(factories.UserFactory(role="student"), plan)
        subscription.provider_subscription_id = f"sub_renew{n}"
        subscriptions.append(subscription)
    db.session.commit()
    return subscriptions


def _statuses(events) -> list[str]:
    db.session.expire_all()
    return [db.session.get(WebhookEvent, event.id).status for event in events]


def test_one_run_renews_every_waiting_subscription_and_numbers_their_invoices_in_order(app):
    events = [_renewal_event(n, s) for n, s in enumerate(_subscriptions(5))]
    db.session.commit()
    assert run_event(events[2].id).status == EventStatus.PROCESSED
    assert _statuses(events) == [EventStatus.PROCESSED] * 5
    invoices = db.session.scalars(sa.select(Invoice).order_by(Invoice.id)).all()
    year = invoices[0].paid_at.year
    assert [i.number for i in invoices] == [f"INV-{year}-{n:06d}" for n in range(1, 6)]
    assert {i.status for i in invoices} == {InvoiceStatus.PAID}
    assert all(i.receipt_sent_at is not None for i in invoices)  # the batch's receipts went
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SubscriptionPeriod)) == 10
    # Their own runs come later and find them done.
    assert [run_event(e.id).status for e in events] == [EventStatus.PROCESSED] * 5
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 5
    assert_ledger_ok()


def test_a_failing_event_sends_the_batch_back_and_fails_alone(app):
    events = [_renewal_event(n, s) for n, s in enumerate(_subscriptions(3))]
    stranger = _renewal_event(9, _subscriptions(1, first=9)[0])
    stranger.payload["data"]["object"]["subscription"] = "sub_nobody"  # not the portal's
    db.session.commit()
    # The batch rolls back, and each of its events runs alone at once.
    assert run_event(events[0].id).status == EventStatus.PROCESSED
    assert _statuses([*events, stranger]) == [EventStatus.PROCESSED] * 3 + [EventStatus.FAILED]
    assert "sub_nobody" in db.session.get(WebhookEvent, stranger.id).last_error
    # Their own runs come later and find them done (the failure is retried alone).
    assert [run_event(e.id).status for e in events] == [EventStatus.PROCESSED] * 3
    numbers = db.session.scalars(sa.select(Invoice.number).order_by(Invoice.id)).all()
    year = db.session.scalars(sa.select(Invoice.paid_at)).first().year
    assert numbers == [f"INV-{year}-{n:06d}" for n in range(1, 4)]  # none lost to the rollback
    assert_ledger_ok()


@pytest.mark.postgres
def test_one_invoice_reported_ten_times_at_once_renews_once(app, postgres):
    """Stripe sends `invoice.paid` and `invoice.payment_succeeded` for every invoice, and
    retries: ten runs at once, each starting from its own event."""
    [subscription] = _subscriptions(1)
    types = ("invoice.paid", "invoice.payment_succeeded")
    events = [_renewal_event(0, subscription, event_type=types[n % 2], copy=n) for n in range(10)]
    db.session.commit()
    ids = [event.id for event in events]
    outcomes = at_once([partial(lambda i: run_event(i).status, i) for i in ids], app=app)
    # A run that finds its event in another's batch leaves it to that one.
    assert set(outcomes) <= {EventStatus.PROCESSED, TAKEN} and EventStatus.PROCESSED in outcomes
    assert _statuses(events) == [EventStatus.PROCESSED] * 10
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SubscriptionPeriod)) == 2
    [invoice] = db.session.scalars(sa.select(Invoice)).all()
    assert invoice.status == InvoiceStatus.PAID and invoice.number.endswith("-000001")
    assert_ledger_ok()


def _statements_of(call) -> int:
    counted = []
    listener = lambda *_args: counted.append(1)  # noqa: E731
    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        call()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)
    return len(counted)


@pytest.mark.postgres
def test_a_batch_of_plain_renewals_costs_the_same_statements_whatever_its_size(
    app, postgres, monkeypatch
):
    """Set by set: the statements of a batch do not grow with the renewals in it (on
    PostgreSQL; elsewhere the ledger writes one entry at a time)."""
    receipts = []  # queued, not sent here: sending them is the worker's next job
    monkeypatch.setattr(send_payment_receipts, "delay", receipts.extend)
    small = [_renewal_event(n, s) for n, s in enumerate(_subscriptions(3))]
    large = [_renewal_event(n, s) for n, s in enumerate(_subscriptions(12, first=3), start=3)]
    db.session.commit()
    # The small batch first (the large one's events wait behind it, untried, beyond it).
    for event in large:
        event.status = EventStatus.FAILED
    db.session.commit()
    few = _statements_of(lambda: run_event(small[0].id))
    for event in large:
        event.status = EventStatus.RECEIVED
    db.session.commit()
    many = _statements_of(lambda: run_event(large[0].id))
    assert _statuses([*small, *large]) == [EventStatus.PROCESSED] * 15
    assert many == few
    assert sorted(receipts) == db.session.scalars(sa.select(Invoice.id).order_by(Invoice.id)).all()
    revenue = db.session.scalars(
        sa.select(SubscriptionPeriod.to_revenue).where(SubscriptionPeriod.closed_at.is_not(None))
    ).all()
    assert revenue == [20000] * 15  # every first period unused: all of it became revenue
    assert_ledger_ok()


def test_an_invoice_twice_in_one_batch_renews_once(app):
    [subscription] = _subscriptions(1)
    events = [
        _renewal_event(0, subscription, event_type="invoice.paid"),
        _renewal_event(0, subscription, event_type="invoice.payment_succeeded", copy=1),
    ]
    db.session.commit()
    assert run_event(events[1].id).status == EventStatus.PROCESSED
    assert _statuses(events) == [EventStatus.PROCESSED] * 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SubscriptionPeriod)) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 1
    results = [db.session.get(WebhookEvent, e.id).result for e in events]
    assert "period" in results[0] or "period" in results[1]
    assert_ledger_ok()


@pytest.mark.postgres
def test_a_run_leaves_an_event_another_run_holds_in_its_batch_and_goes_on(app, postgres):
    """Renewal day with many workers: one whose event is in another's batch does not wait
    for that batch's commit."""
    events = [_renewal_event(n, s) for n, s in enumerate(_subscriptions(2))]
    db.session.commit()
    with db.engine.connect() as other:  # another run's batch, not committed yet
        other.execute(
            sa.text("SELECT id FROM webhook_events WHERE id = :id FOR UPDATE"),
            {"id": events[1].id},
        )
        assert run_event(events[1].id).status == TAKEN
        assert run_event(events[0].id).status == EventStatus.PROCESSED  # skips the held one
        other.rollback()
    assert _statuses(events) == [EventStatus.PROCESSED, EventStatus.RECEIVED]
    assert run_event(events[1].id, replay=True).status == EventStatus.PROCESSED


@pytest.mark.postgres
def test_a_run_of_a_done_event_answers_its_status_without_locking_it(app, postgres):
    """Renewal day: most runs find their event done by a batch. Such a run only reads:
    it neither waits for nor takes the row's lock (a lock is a write)."""
    events = [_renewal_event(n, s) for n, s in enumerate(_subscriptions(2))]
    db.session.commit()
    assert run_event(events[0].id).status == EventStatus.PROCESSED  # the batch did both
    with db.engine.connect() as other:  # a replay of it, holding the row
        other.execute(
            sa.text("SELECT id FROM webhook_events WHERE id = :id FOR UPDATE"),
            {"id": events[1].id},
        )
        assert run_event(events[1].id).status == EventStatus.PROCESSED
        other.rollback()
    assert lock_state(events[1].id).status == EventStatus.PROCESSED
    with db.engine.connect() as other:  # the run's transaction is still open
        locked = other.execute(
            sa.text("SELECT id FROM webhook_events WHERE id = :id FOR UPDATE NOWAIT"),
            {"id": events[1].id},
        )
        assert locked.scalar() == events[1].id
        other.rollback()
    db.session.rollback()
