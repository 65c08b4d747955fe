"""Processing stored events, and what the admin pages ask about them.

These functions add and flush; the caller that owns the unit of work (the task, the
replay view, the replay command) commits or rolls back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from portal.db import utcnow
from portal.errors import NotFound, PortalError
from portal.extensions import db
from portal.webhooks.handlers import BULK_HANDLERS, HANDLERS, EventNotApplicable
from portal.webhooks.models import MAX_ERROR_LENGTH, MAX_RESULT_LENGTH, EventStatus, WebhookEvent

DONE = (EventStatus.PROCESSED, EventStatus.IGNORED)


def _state_statements():
    """The two forms of `lock_state`'s query, built once: on renewal day most runs are
    this one statement, and building it took as long as running it. A done event is
    not locked (a lock is a write, and a done event's run only reads its status)."""
    state = sa.select(WebhookEvent.type, WebhookEvent.status).where(
        WebhookEvent.id == sa.bindparam("event_id")
    )
    locked = so.aliased(WebhookEvent)
    mine = (
        sa.select(locked.id)
        .where(locked.id == WebhookEvent.id, locked.status.not_in(DONE))
        .with_for_update(skip_locked=True)
        .lateral()
    )
    return {
        "postgresql": state.add_columns(mine.c.id.is_not(None).label("mine")).outerjoin(
            mine, sa.true()
        ),
        # No row locks (SQLite): the run always holds its event.
        None: state.add_columns(sa.true().label("mine")),
    }


_STATE = _state_statements()


def lock_state(event_id: int):
    """The event's type and status, and whether this run now holds its lock (`mine`):
    one that another run holds is not waited for, and a done one is not locked. None
    when there is no such event."""
    connection = db.session.connection()
    statement = _STATE.get(connection.dialect.name, _STATE[None])
    return connection.execute(statement, {"event_id": event_id}).one_or_none()


def lock_event(event_id: int) -> WebhookEvent | None:
    """The event, locked: two runs of the same event (a retry and a replay) take turns."""
    return db.session.scalars(
        sa.select(WebhookEvent)
        .where(WebhookEvent.id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()


def lock_waiting(types: tuple[str, ...], limit: int, *, besides: int) -> list[WebhookEvent]:
    """Up to `limit` events of `types` never tried yet, oldest first, locked; one that
    another run holds is skipped (it is that run's)."""
    return list(
        db.session.scalars(
            sa.select(WebhookEvent)
            .where(
                WebhookEvent.type.in_(types),
                WebhookEvent.status == EventStatus.RECEIVED,
                WebhookEvent.id != besides,
            )
            .order_by(WebhookEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    )


def handle(event: WebhookEvent) -> str:
    """Run the event's handler and mark it processed (or ignored); the handler may raise."""
    return handle_all([event])[0]


def handle_all(events: list[WebhookEvent]) -> list[str]:
    """Run the events' handlers, then mark them all processed (or ignored): one UPDATE
    writes every outcome (a handler's own queries would flush them one by one).

    Events of a type with a bulk handler go to it first, together; those it leaves go to
    their handler one by one, in turn with the rest."""
    applied = _run_bulk_handlers(events)
    outcomes = [
        (EventStatus.PROCESSED, applied[event.id]) if event.id in applied else _run_handler(event)
        for event in events
    ]
    for event, (status, result) in zip(events, outcomes, strict=True):
        event.status, event.result = status, result[:MAX_RESULT_LENGTH]
        if status == EventStatus.PROCESSED:
            event.processed_at = utcnow()
        # Counted with the outcome (a failure is counted by `record_failure`, after the
        # handler's changes rolled back).
        event.attempts += 1
        event.last_error = event.retry_at = None
    db.session.flush()
    return [event.status for event in events]


def _run_bulk_handlers(events: list[WebhookEvent]) -> dict[int, str]:
    by_handler: dict = {}
    for event in events:
        if event.type in BULK_HANDLERS:
            by_handler.setdefault(BULK_HANDLERS[event.type], []).append(event)
    applied = {}
    for handler, group in by_handler.items():
        for event, result in zip(group, handler(group), strict=True):
            if result is not None:
                applied[event.id] = result
    return applied


def _run_handler(event: WebhookEvent) -> tuple[str, str]:
    handler = HANDLERS.get(event.type)
    if handler is None:
        return EventStatus.IGNORED, "No handler for this event type."
    return EventStatus.PROCESSED, handler(event)


def record_failure(event_id: int, exc: BaseException) -> WebhookEvent | None:
    """Mark the event failed with the reason; its handler's changes were rolled back."""
    event = lock_event(event_id)
    if event is None:
        return None
    event.attempts += 1
    event.status = EventStatus.FAILED
    event.last_error = describe(exc)[:MAX_ERROR_LENGTH]
    event.retry_at = None if is_permanent(exc) else utcnow() + SWEEP_RETRY_AFTER
    db.session.flush()
    return event


# A failure that may pass is queued again by the sweep this long after it, as long as the
# event is recent enough for Stripe to be still retrying it too, a bounded number of times.
SWEEP_RETRY_AFTER = timedelta(hours=1)
SWEEP_WINDOW = timedelta(days=3)
MAX_ATTEMPTS = 30


def describe(exc: BaseException) -> str:
    if isinstance(exc, EventNotApplicable):
        return str(exc)
    if isinstance(exc, PortalError):
        return f"{exc.code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def is_permanent(exc: BaseException) -> bool:
    """True when retrying cannot help: the event or the portal's answer to it is final.

    A gateway that may come back (Stripe unreachable) and anything unexpected (a bug, a
    lost database connection) are worth a retry; an admin can Replay after a fix.
    """
    if isinstance(exc, EventNotApplicable):
        return True
    if getattr(exc, "provider_code", None) == "authentication":
        return False  # our Stripe key is wrong: it will be fixed, and the event still counts
    return isinstance(exc, PortalError) and not getattr(exc, "retryable", False)


# For the admin pages


@dataclass(frozen=True)
class EventFilters:
    type: str | None
    status: str | None


def parse_filters(type_: object, status: object) -> EventFilters:
    """Filters from the query string; unknown values are dropped, not an error page."""
    status = status if status in set(EventStatus) else None
    type_ = type_ if isinstance(type_, str) and 0 < len(type_) <= 100 else None
    return EventFilters(type=type_, status=status)


def events_query(filters: EventFilters) -> sa.Select:
    query = sa.select(WebhookEvent).order_by(
        WebhookEvent.received_at.desc(), WebhookEvent.id.desc()
    )
    if filters.type:
        query = query.where(WebhookEvent.type == filters.type)
    if filters.status:
        query = query.where(WebhookEvent.status == filters.status)
    return query


def event_types() -> list[str]:
    """Every type seen or handled, for the type filter."""
    seen = db.session.scalars(sa.select(WebhookEvent.type).distinct()).all()
    return sorted(set(seen) | set(HANDLERS))


def failed_count() -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(WebhookEvent)
        .where(WebhookEvent.status == EventStatus.FAILED)
    )


def get_event(event_id: int) -> WebhookEvent:
    event = db.session.get(WebhookEvent, event_id)
    if event is None:
        raise NotFound("No such webhook event.")
    return event


def related_events(event: WebhookEvent) -> list[WebhookEvent]:
    """The other events about the same Stripe object, in Stripe's order."""
    if event.object_id is None:
        return []
    return list(
        db.session.scalars(
            sa.select(WebhookEvent)
            .where(WebhookEvent.object_id == event.object_id, WebhookEvent.id != event.id)
            .order_by(WebhookEvent.stripe_created, WebhookEvent.id)
            .limit(50)
        )
    )


def stuck_event_ids(before: datetime, now: datetime, limit: int = 500) -> list[int]:
    """Events to queue again: stored but never processed (their task was lost with a broker
    outage), and failures that may pass whose task gave up retrying."""
    never_processed = sa.and_(
        WebhookEvent.status == EventStatus.RECEIVED, WebhookEvent.received_at < before
    )
    worth_another_try = sa.and_(
        WebhookEvent.status == EventStatus.FAILED,
        WebhookEvent.retry_at <= now,
        WebhookEvent.received_at >= now - SWEEP_WINDOW,
        WebhookEvent.attempts < MAX_ATTEMPTS,
    )
    return list(
        db.session.scalars(
            sa.select(WebhookEvent.id)
            .where(sa.or_(never_processed, worth_another_try))
            .order_by(WebhookEvent.id)
            .limit(limit)
        )
    )
