"""The admins' invoice list filters: status, kind, student and a range of issue dates.

Filters come from the query string and are checked before any query runs: an unknown
status or kind, a student who is not one, a malformed date or a range that ends before
it starts is refused with a message per field. Dates are whole UTC days, both ends
included, and select by the day an invoice was issued (a draft has none, so a date
range leaves drafts out). `overdue` is an open invoice past its due date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from portal.accounts.models import Role, User
from portal.db import utcnow
from portal.errors import ValidationError
from portal.extensions import db
from portal.invoices.models import Invoice, InvoiceKind, InvoiceStatus
from portal.validation import parse_day

OVERDUE = "overdue"
STATUS_CHOICES = (*(s.value for s in InvoiceStatus), OVERDUE)
KIND_CHOICES = tuple(k.value for k in InvoiceKind)
FILTER_NAMES = ("status", "kind", "student", "from", "to")


@dataclass(frozen=True)
class InvoiceFilters:
    status: str | None = None
    kind: str | None = None
    student_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None

    def as_args(self) -> dict[str, str]:
        """The filters as query arguments, for links that keep them (pages, the CSV)."""
        args = {"status": self.status, "kind": self.kind, "student": self.student_id}
        args |= {"from": self.date_from, "to": self.date_to}
        return {k: v.isoformat() if isinstance(v, date) else str(v) for k, v in args.items() if v}

    @property
    def active(self) -> bool:
        return bool(self.as_args())


def parse_invoice_filters(args) -> InvoiceFilters:
    """Filters from a query string; a ValidationError naming every bad field otherwise."""
    errors: dict[str, list[str]] = {}
    status = _choice(args.get("status"), "status", STATUS_CHOICES, errors)
    kind = _choice(args.get("kind"), "kind", KIND_CHOICES, errors)
    student_id = _student(args.get("student"), errors)
    start = parse_day(args.get("from"), "from", errors)
    end = parse_day(args.get("to"), "to", errors)
    if start and end and start > end:
        errors["to"] = ["The end date is before the start date."]
    if errors:
        raise ValidationError(next(iter(errors.values()))[0], fields=errors)
    return InvoiceFilters(status, kind, student_id, start, end)


def _choice(value: str | None, name: str, allowed: tuple[str, ...], errors: dict) -> str | None:
    value = (value or "").strip()
    if value and value not in allowed:
        errors[name] = [f"Unknown {name} {value!r}: choose one of {', '.join(allowed)}."]
        return None
    return value or None


def _student(value: str | None, errors: dict) -> int | None:
    """A student by id or e-mail address; anybody else (or nobody) is an error."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit() and len(value) <= 18:
        where = User.id == int(value)
    elif "@" in value and len(value) <= 254:
        where = User.email == value.lower()
    else:
        errors["student"] = ["Give a student's e-mail address or id."]
        return None
    student_id = db.session.scalar(sa.select(User.id).where(where, User.role == Role.STUDENT))
    if student_id is None:
        errors["student"] = [f"No student with the e-mail address or id {value!r}."]
    return student_id


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def invoice_conditions(filters: InvoiceFilters, now: datetime, issued_at=None) -> list:
    """The WHERE conditions on `Invoice` for these filters; the dates select on
    `issued_at` (the invoice's own, or a credit note's when it is listed with its
    invoice)."""
    issued_at = Invoice.issued_at if issued_at is None else issued_at
    where = []
    if filters.status == OVERDUE:
        where += [Invoice.status == InvoiceStatus.OPEN, Invoice.due_at < now]
    elif filters.status:
        where.append(Invoice.status == filters.status)
    if filters.kind:
        where.append(Invoice.kind == filters.kind)
    if filters.student_id:
        where.append(Invoice.user_id == filters.student_id)
    if filters.date_from:
        where.append(issued_at >= day_start(filters.date_from))
    if filters.date_to:
        where.append(issued_at < day_start(filters.date_to + timedelta(days=1)))
    return where


def filtered_invoices(filters: InvoiceFilters) -> sa.Select:
    """The admins' invoice list under these filters, newest first, with each student."""
    return (
        sa.select(Invoice)
        .where(*invoice_conditions(filters, utcnow()))
        .order_by(Invoice.created_at.desc(), Invoice.id.desc())
        .options(so.joinedload(Invoice.user), so.selectinload(Invoice.credit_notes))
    )
