"""The daily prune of `Idempotency-Key` rows: a key is kept IDEMPOTENCY_KEY_HOURS."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from celery import shared_task
from flask import current_app

from portal.db import unit_of_work, utcnow
from portal.extensions import db
from portal.idempotency.models import IdempotencyKey


@shared_task(name="prune_idempotency_keys")
def prune_idempotency_keys() -> int:
    """Delete the keys sent more than IDEMPOTENCY_KEY_HOURS ago (daily); returns how many.
    A request sent again with a pruned key is a new request."""
    cutoff = utcnow() - timedelta(hours=current_app.config["IDEMPOTENCY_KEY_HOURS"])
    with unit_of_work():
        deleted = db.session.execute(
            sa.delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff)
        )
    return deleted.rowcount
