"""One row per Stripe event, keyed by Stripe's event id.

The unique `stripe_id` is what makes a repeated delivery harmless: the second insert of
the same id does nothing, so the event is queued for processing once. `status` says how
far it got: `received` (stored, waiting for the task), `processed`, `failed` (with
`last_error`; retried by the task, or replayed by an admin) or `ignored` (a type the
portal has no handler for). `result` is what the handler did, in words, for admins.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from portal.db import UTCDateTime, one_of, utcnow
from portal.extensions import db


class EventStatus(enum.StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"
    IGNORED = "ignored"


MAX_ERROR_LENGTH = 2000
MAX_RESULT_LENGTH = 1000


class WebhookEvent(db.Model):
    __tablename__ = "webhook_events"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    stripe_id: so.Mapped[str] = so.mapped_column(sa.String(255), unique=True)
    type: so.Mapped[str] = so.mapped_column(sa.String(100), index=True)
    api_version: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    # The id of the object the event is about (`data.object.id`), to line up its events.
    object_id: so.Mapped[str | None] = so.mapped_column(sa.String(255), index=True)
    stripe_created: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    livemode: so.Mapped[bool] = so.mapped_column(default=False)
    payload: so.Mapped[dict] = so.mapped_column(sa.JSON)
    received_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
    status: so.Mapped[str] = so.mapped_column(
        sa.String(20), default=EventStatus.RECEIVED, index=True
    )
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.String(MAX_ERROR_LENGTH))
    result: so.Mapped[str | None] = so.mapped_column(sa.String(MAX_RESULT_LENGTH))
    processed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # A failure that may pass (Stripe unreachable, an unexpected error): when the sweep in
    # sync_payment_status queues it again, after the task's own retries. None: final.
    retry_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint(one_of("status", EventStatus), name="status"),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )

    @property
    def data_object(self) -> dict | None:
        """The payload's `data.object`, or None when the payload has no such dict."""
        data = self.payload.get("data") if isinstance(self.payload, dict) else None
        obj = data.get("object") if isinstance(data, dict) else None
        return obj if isinstance(obj, dict) else None

    def __repr__(self) -> str:
        return f"<WebhookEvent {self.stripe_id} {self.type} {self.status}>"
