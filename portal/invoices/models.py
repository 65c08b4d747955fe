"""Invoices, their lines, and the per-year counter that numbers them.

An invoice is `draft → open → paid | void`. Its figures are fixed when it is
opened: the number, the totals and the tax rate never change after that. The PDF is
rendered once, stored, and served as stored.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
import sqlalchemy.orm as so

from portal.accounts.models import User
from portal.bookings.models import Booking
from portal.db import UTCDateTime, new_uuid, one_of, utcnow
from portal.extensions import db
from portal.payments.models import Payment


class InvoiceStatus(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"


class InvoiceKind(enum.StrEnum):
    """What an invoice is for: a lesson paid by card, a paid subscription invoice, or
    one an admin drafted by hand."""

    LESSON = "lesson"
    SUBSCRIPTION = "subscription"
    MANUAL = "manual"


class Invoice(db.Model):
    __tablename__ = "invoices"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    uuid: so.Mapped[uuid.UUID] = so.mapped_column(sa.Uuid, unique=True, default=new_uuid)
    # INV-YYYY-NNNNNN, given when the invoice is opened; gapless within a year.
    number: so.Mapped[str | None] = so.mapped_column(sa.String(20), unique=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    # The payment this invoice records (a lesson paid by card); one invoice per payment.
    payment_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("payments.id"), unique=True)
    kind: so.Mapped[str] = so.mapped_column(
        sa.String(12), default=InvoiceKind.LESSON, server_default=InvoiceKind.LESSON
    )
    # The subscription a `subscription` invoice bills (its period's Stripe invoice).
    subscription_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("subscriptions.id"), index=True
    )
    # The Stripe invoice a `subscription` invoice records: one portal invoice each.
    provider_invoice_id: so.Mapped[str | None] = so.mapped_column(sa.String(255), unique=True)
    status: so.Mapped[str] = so.mapped_column(sa.String(10), default=InvoiceStatus.DRAFT)
    currency: so.Mapped[str] = so.mapped_column(sa.String(3))
    subtotal: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    discount: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    tax_rate: so.Mapped[Decimal] = so.mapped_column(sa.Numeric(5, 2), default=Decimal("0"))
    tax: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    total: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    issued_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime, index=True)
    due_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    paid_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    voided_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # Rendered once (on the first download or receipt) and then served byte for byte.
    pdf: so.Mapped[bytes | None] = so.mapped_column(sa.LargeBinary, deferred=True)
    pdf_rendered_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    receipt_sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    user: so.Mapped[User] = so.relationship()
    payment: so.Mapped[Payment | None] = so.relationship()
    items: so.Mapped[list[InvoiceItem]] = so.relationship(
        back_populates="invoice", order_by="InvoiceItem.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.CheckConstraint(one_of("status", InvoiceStatus), name="status"),
        sa.CheckConstraint(one_of("kind", InvoiceKind), name="kind"),
        sa.CheckConstraint("status = 'draft' OR number IS NOT NULL", name="numbered_once_open"),
        sa.CheckConstraint(
            "subtotal >= 0 AND discount >= 0 AND discount <= subtotal AND tax >= 0",
            name="figures_in_range",
        ),
        sa.CheckConstraint("total = subtotal - discount + tax", name="total_adds_up"),
    )

    @property
    def is_overdue(self) -> bool:
        return (
            self.status == InvoiceStatus.OPEN
            and self.due_at is not None
            and (self.due_at < utcnow())
        )

    @property
    def display_status(self) -> str:
        return "overdue" if self.is_overdue else self.status

    def __repr__(self) -> str:
        return f"<Invoice {self.number or self.uuid} {self.status} {self.total}>"


class InvoiceItem(db.Model):
    __tablename__ = "invoice_items"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    invoice_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("invoices.id"), index=True)
    description: so.Mapped[str] = so.mapped_column(sa.String(255))
    quantity: so.Mapped[int] = so.mapped_column(sa.Integer)
    unit_price: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    total: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    booking_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("bookings.id"), index=True)

    invoice: so.Mapped[Invoice] = so.relationship(back_populates="items")
    booking: so.Mapped[Booking | None] = so.relationship()

    __table_args__ = (
        sa.CheckConstraint("quantity > 0 AND unit_price >= 0", name="quantity_and_price"),
        sa.CheckConstraint("total = quantity * unit_price", name="total_is_quantity_times_price"),
    )


class InvoiceCounter(db.Model):
    """The last invoice number given in a year. Taking the next one updates this row, so
    two invoices opening at once take turns, and a rolled-back one gives its number back."""

    __tablename__ = "invoice_counters"

    year: so.Mapped[int] = so.mapped_column(primary_key=True, autoincrement=False)
    last_number: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
