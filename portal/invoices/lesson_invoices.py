"""A lesson's invoice, written in its final state inside the payment's success.

Issued and paid at the moment of the payment, once per payment, with one line (the
lesson) for exactly what was charged, any tax in it (`services.split_tax_included`).
Like every invoice it takes the year's number last, and the success path should stay
quick: there is no draft, no second flush and no ORM unit of work. On PostgreSQL the
number, the invoice and its line are one statement (the year's counter row is
incremented, and locked, first, as `numbering.next_number` does); elsewhere three.
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from flask import current_app

from portal.dates import format_local
from portal.db import is_postgres, new_uuid, utcnow
from portal.extensions import db
from portal.invoices.models import Invoice, InvoiceItem, InvoiceKind, InvoiceStatus
from portal.invoices.numbering import NUMBER_DIGITS, invoice_prefix, next_number
from portal.invoices.services import Line, check_lines, invoice_of_payment, split_tax_included


def create_lesson_invoice(payment, *, first_success: bool = False) -> int:
    """The id of the invoice for a lesson payment that went through, written now unless
    it exists (a second call returns the first's).

    `first_success`: the caller has just recorded the payment's success under its lock,
    which happens once per payment, so no invoice can exist yet and none is looked for
    (the unique `payment_id` would refuse a second).
    """
    if not first_success:
        existing = invoice_of_payment(payment.id)
        if existing is not None:
            return existing.id
    rate = current_app.config["TAX_RATE_PERCENT"]
    price, tax = split_tax_included(payment.amount, rate)
    line = check_lines([Line(_description(payment.booking), 1, price, payment.booking_id)])[0]
    paid_at = payment.succeeded_at or utcnow()
    invoice = {
        "uuid": new_uuid(),
        "user_id": payment.payer_id,
        "payment_id": payment.id,
        "kind": InvoiceKind.LESSON.value,
        "status": InvoiceStatus.PAID.value,
        "currency": payment.currency,
        # What was charged, whatever the rounding: the tax is the part of it not price.
        "subtotal": price,
        "discount": 0,
        "tax_rate": Decimal(rate),
        "tax": tax,
        "total": payment.amount,
        "created_at": utcnow(),
        "issued_at": paid_at,
        "due_at": paid_at,
        "paid_at": paid_at,
    }
    item = {
        "description": line.description,
        "quantity": 1,
        "unit_price": price,
        "total": price,
        "booking_id": payment.booking_id,
    }
    connection = db.session.connection()
    if is_postgres(db.session):
        year = paid_at.year
        line_total = {"total_line": item["total"]}
        params = {**item, **invoice, **line_total, "of_year": year}
        params.update(prefix=invoice_prefix(year), digits=NUMBER_DIGITS)
        return connection.execute(_ONE_STATEMENT, params).scalar_one()
    invoice["number"] = next_number(paid_at.year)
    invoice_id = connection.execute(_INVOICE_INSERT, invoice).scalar_one()
    connection.execute(_ITEM_INSERT, {**item, "invoice_id": invoice_id})
    return invoice_id


def _description(booking) -> str:
    if booking is None:
        return "Lesson"
    # On the student's clock: the invoice is theirs.
    when = format_local(booking.starts_at, "short", tz=booking.student.time_zone)
    return f"Lesson with {booking.tutor.name}, {when}, {booking.duration_minutes} minutes"


_INVOICE_INSERT = sa.insert(Invoice.__table__).returning(Invoice.__table__.c.id)
_ITEM_INSERT = sa.insert(InvoiceItem.__table__)

_columns = Invoice.__table__.c
_ONE_STATEMENT = sa.text(
    """
WITH n AS (
    INSERT INTO invoice_counters (year, last_number) VALUES (:of_year, 1)
    ON CONFLICT (year) DO UPDATE SET last_number = invoice_counters.last_number + 1
    RETURNING last_number
), i AS (
    INSERT INTO invoices (uuid, number, user_id, payment_id, kind, status, currency, subtotal,
        discount, tax_rate, tax, total, created_at, issued_at, due_at, paid_at)
    SELECT :uuid,
        CAST(:prefix AS varchar) || lpad(CAST(n.last_number AS text),
            greatest(CAST(:digits AS integer), length(CAST(n.last_number AS text))), '0'),
        :user_id, :payment_id, :kind, :status, :currency, :subtotal, :discount, :tax_rate,
        :tax, :total, :created_at, :issued_at, :due_at, :paid_at
    FROM n
    RETURNING id
)
INSERT INTO invoice_items (invoice_id, description, quantity, unit_price, total, booking_id)
SELECT i.id, :description, :quantity, :unit_price, :total_line, :booking_id FROM i
RETURNING invoice_id
"""
).bindparams(
    *(
        sa.bindparam(name, type_=_columns[name].type)
        for name in ("uuid", "tax_rate", "created_at", "issued_at", "due_at", "paid_at")
    )
)
