"""Processing webhook events after the response, and catching the ones that never came.

`run_event` is the unit of work for one event: the task, the admin's Replay button and
`flask webhooks replay` all go through it. A handler's changes commit together with the
event's new status, or roll back together, and the failure is then recorded on its own.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from celery import shared_task
from flask import current_app

from portal.after_commit import enqueue_after_commit
from portal.db import unit_of_work, utcnow
from portal.extensions import db
from portal.instruments import WEBHOOK_EVENTS
from portal.payments.models import Payment, PaymentStatus
from portal.webhooks import services
from portal.webhooks.handlers import settle_from_provider
from portal.webhooks.models import EventStatus

log = logging.getLogger(__name__)

MAX_RETRIES = 5
BACKOFF_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600
# Pending attempts older than this are abandoned carts, not missed webhooks.
SYNC_WINDOW = timedelta(days=7)
SYNC_BATCH = 200


@dataclass(frozen=True)
class Outcome:
    status: str
    retry: bool = False
    error: str | None = None


# Renewal day: Stripe reports a paid invoice for every subscription at once. The run of
# one such event takes up to BATCH_SIZE - 1 others that wait untried and processes them
# in the same transaction: one commit, and one take of the year's invoice numbers, for
# all of them. Their own runs, finding them locked, leave them to it and go on to the next
# (so the workers fill batches side by side instead of queueing behind one). If any of
# them fails, the whole batch rolls back and each of its events runs alone, in its own
# transaction, so a failure is recorded on its own event only.
BATCHED_TYPES = ("invoice.paid", "invoice.payment_succeeded")
BATCH_SIZE = 50
# What a run answers for an event another run is processing in its batch.
TAKEN = "taken by another run"


def run_event(event_id: int, *, replay: bool = False, alone: bool = False) -> Outcome:
    """Process one stored event; without `replay`, an event already done is left alone.
    `alone`: never take others with it."""
    if not replay:
        # Renewal day: most runs find their event done by a batch, or held by one. The
        # state alone answers them (without reading the payload).
        state = services.lock_state(event_id)
        if state is not None and state.status in services.DONE:
            db.session.rollback()
            return Outcome(state.status)
        if state is not None and not state.mine and state.type in BATCHED_TYPES:
            db.session.rollback()
            return Outcome(TAKEN)  # the run that holds it applies it, or runs it alone
    event = services.lock_event(event_id)
    if not alone and _batched(event, replay):
        others = services.lock_waiting(BATCHED_TYPES, BATCH_SIZE - 1, besides=event.id)
        if others:
            taken = [other.id for other in others]
            status = _run_batch([event, *others])
            if status is not None:
                return Outcome(status)
            for other_id in taken:  # the batch rolled back: each alone now
                run_event(other_id, alone=True)
            event = services.lock_event(event_id)
    if event is None or (event.status in services.DONE and not replay):
        status = event.status if event is not None else "missing"
        db.session.rollback()
        return Outcome(status)
    event_type = event.type
    try:
        with unit_of_work():
            status = services.handle(event)
    except Exception as exc:  # every failure is recorded on the event
        log.warning("webhook event %s failed: %s", event_id, services.describe(exc))
        with unit_of_work():
            failed = services.record_failure(event_id, exc)
        error = failed.last_error if failed is not None else None
        WEBHOOK_EVENTS.labels(event_type, EventStatus.FAILED).inc()
        return Outcome(EventStatus.FAILED, retry=not services.is_permanent(exc), error=error)
    WEBHOOK_EVENTS.labels(event_type, str(status)).inc()
    return Outcome(status)


def _batched(event, replay: bool) -> bool:
    return (
        event is not None
        and not replay
        and event.type in BATCHED_TYPES
        and event.status not in services.DONE
    )


def _run_batch(batch: list) -> str | None:
    """The events in one transaction: the first one's new status, or None (and nothing
    changed) when one of them failed."""
    try:
        with unit_of_work():
            statuses = services.handle_all(batch)
            outcomes = list(zip([each.type for each in batch], statuses, strict=True))
    except Exception as exc:  # each of them runs alone, and fails alone
        log.info("a batch of %d webhook events rolled back: %s", len(batch), exc)
        return None
    for event_type, status in outcomes:
        WEBHOOK_EVENTS.labels(event_type, str(status)).inc()
    return outcomes[0][1]


def backoff(retries: int) -> int:
    return min(BACKOFF_SECONDS * 2**retries, BACKOFF_CAP_SECONDS)


# The outcome lives on the event row; no result is stored, and the web process that
# queues the task does not subscribe to a result it will never read.
@shared_task(bind=True, name="process_webhook_event", max_retries=MAX_RETRIES, ignore_result=True)
def process_webhook_event(self, event_id: int, replay: bool = False):
    """Process a stored Stripe event, retrying a failure that may pass with backoff."""
    outcome = run_event(event_id, replay=replay)
    if outcome.retry and self.request.retries < self.max_retries:
        countdown = backoff(self.request.retries)
        if self.request.is_eager:
            # Run in process (no broker): apply() runs a returned Retry again at once;
            # a raised one would escape into the commit that queued this task.
            return self.retry(countdown=countdown, throw=False)
        raise self.retry(countdown=countdown)
    return outcome.status


@shared_task(name="sync_payment_status")
def sync_payment_status() -> str:
    """Ask Stripe about payments still pending after PAYMENT_SYNC_AFTER_MINUTES and apply
    the answer through the same success and failure paths as the webhook; re-queue events
    that were stored but never processed."""
    now = utcnow()
    cutoff = now - timedelta(minutes=current_app.config["PAYMENT_SYNC_AFTER_MINUTES"])
    outcomes = Counter(_sync_payment(pid) for pid in stale_pending_payment_ids(cutoff, now))
    requeued = services.stuck_event_ids(cutoff, now)
    with unit_of_work():
        for event_id in requeued:
            enqueue_after_commit(process_webhook_event, event_id)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(outcomes.items())) or "none"
    return f"pending payments checked: {counts}; events re-queued: {len(requeued)}"


def stale_pending_payment_ids(cutoff, now) -> list[int]:
    return list(
        db.session.scalars(
            sa.select(Payment.id)
            .where(
                Payment.status == PaymentStatus.PENDING,
                Payment.created_at < cutoff,
                Payment.created_at >= now - SYNC_WINDOW,
            )
            .order_by(Payment.created_at)
            .limit(SYNC_BATCH)
        )
    )


def _sync_payment(payment_id: int) -> str:
    """One payment, one transaction: a payment Stripe cannot answer for does not stop the rest."""
    try:
        with unit_of_work():
            payment = db.session.get(Payment, payment_id)
            if payment is None or payment.status != PaymentStatus.PENDING:
                return "already settled"
            settle_from_provider(payment)
            status = payment.status
    except Exception:  # logged; the next run asks again
        log.exception("could not sync payment %s with Stripe", payment_id)
        return "errors"
    return status
