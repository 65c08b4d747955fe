"""Appending to the audit log, and searching it.

`record()` is the one writer. It adds the row to the session without flushing: the row is
written by the caller's next flush or commit, in the same transaction as the change it
describes, so an audit row exists exactly when its change does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import has_request_context, request

from portal.accounts.models import User
from portal.audit.models import AuditLog
from portal.db import parse_id, utcnow
from portal.errors import ValidationError
from portal.extensions import db
from portal.validation import parse_day

# Set on the request when a service recorded its change itself, so the admin safety net
# (`portal.audit.hooks`) does not add a second, vaguer row.
RECORDED = "portal.audit.recorded"
# Set on the request when its unit of work committed (the admin safety net looks at it).
COMMITTED = "portal.audit.committed"


class AppendOnlyViolation(RuntimeError):
    pass


def mark_recorded() -> None:
    """A service recorded this request's change itself."""
    if has_request_context():
        request.environ[RECORDED] = True


def record(
    action: str,
    *,
    object_type: str,
    object_id: object,
    actor_id: int | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditLog:
    """Append one audit row: `actor_id` did `action` to `object_type` `object_id`.

    `before` and `after` are small JSON-able dicts of the fields that changed. Never put
    secrets in them (bank details go in masked, as their last four digits). The IP is the
    current request's, when there is one.
    """
    entry = AuditLog(
        created_at=utcnow(),
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=before,
        after=after,
        ip=request.remote_addr if has_request_context() else None,
    )
    db.session.add(entry)
    mark_recorded()
    return entry


def refuse_changes(session, flush_context, instances) -> None:
    """Audit rows are append-only on every backend (PostgreSQL also has a trigger).

    A `before_flush` listener, installed by `portal.audit.hooks.register_audit`."""
    for obj in session.deleted:
        if isinstance(obj, AuditLog):
            raise AppendOnlyViolation("audit log rows cannot be deleted")
    for obj in session.dirty:
        if isinstance(obj, AuditLog) and session.is_modified(obj, include_collections=False):
            raise AppendOnlyViolation("audit log rows cannot be changed")


# --- searching ------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    actor: str = ""
    date_from: date | None = None
    date_to: date | None = None


MAX_FILTER_LENGTH = 120


def parse_filters(args) -> AuditFilters:
    """Filters from a query string; bad dates and over-long values are one 400 naming each."""
    errors: dict[str, list[str]] = {}
    values = {}
    for name in ("action", "object_type", "object_id", "actor"):
        value = (args.get(name) or "").strip()
        if len(value) > MAX_FILTER_LENGTH:
            errors[name] = [f"At most {MAX_FILTER_LENGTH} characters."]
        values[name] = value
    dates = {
        key: parse_day((args.get(name) or "").strip(), name, errors)
        for key, name in (("date_from", "from"), ("date_to", "to"))
    }
    if errors:
        raise ValidationError(next(iter(errors.values()))[0], fields=errors)
    return AuditFilters(**values, **dates)


def search(filters: AuditFilters) -> sa.Select:
    """Audit rows matching `filters`, newest first, with their actors loaded."""
    query = sa.select(AuditLog).options(so.joinedload(AuditLog.actor)).order_by(AuditLog.id.desc())
    if filters.action:
        # "payout" finds every payout action; "payout.failed" exactly that one.
        query = query.where(
            sa.or_(
                AuditLog.action == filters.action, AuditLog.action.startswith(filters.action + ".")
            )
        )
    if filters.object_type:
        query = query.where(AuditLog.object_type == filters.object_type)
    if filters.object_id:
        query = query.where(AuditLog.object_id == filters.object_id)
    if filters.actor:
        query = query.where(_actor_matches(filters.actor))
    if filters.date_from:
        query = query.where(AuditLog.created_at >= _day_start(filters.date_from))
    if filters.date_to:
        query = query.where(AuditLog.created_at < _day_start(filters.date_to + timedelta(days=1)))
    return query


def _actor_matches(text: str):
    if text.lower() == "system":
        return AuditLog.actor_id.is_(None)
    actor_id = parse_id(text)
    if actor_id is not None:
        return AuditLog.actor_id == actor_id
    users = sa.select(User.id).where(User.email.contains(text.lower(), autoescape=True))
    return AuditLog.actor_id.in_(users)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def known_actions() -> list[str]:
    return list(db.session.scalars(sa.select(AuditLog.action).distinct().order_by(AuditLog.action)))


def history(object_type: str, object_id: object) -> list[AuditLog]:
    """Everything recorded about one object, oldest first."""
    return list(
        db.session.scalars(
            sa.select(AuditLog)
            .where(AuditLog.object_type == object_type, AuditLog.object_id == str(object_id))
            .order_by(AuditLog.id)
        )
    )
