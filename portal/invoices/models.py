"""Invoices, their lines, their credit notes, and the per-year counters that number them.

An invoice is `draft → open → paid | void`. Its figures are fixed when it is
opened: the number, the totals and the tax rate never change after that. The PDF is
rendered once, stored, and served as stored.

A credit note records money given back against an invoice (a refund of its payment). It
has its own gapless yearly series, `CN-YYYY-NNNNNN`, and, like an invoice, is never
edited: a refund that later fails is cancelled by a second note that reverses the first
(a negative amount pointing at it).
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
    # When the opened invoice went out to its student (a manual invoice, by e-mail).
    sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    user: so.Mapped[User] = so.relationship()
    payment: so.Mapped[Payment | None] = so.relationship(foreign_keys=[payment_id])
    credit_notes: so.Mapped[list[CreditNote]] = so.relationship(
        back_populates="invoice", order_by="CreditNote.id"
    )
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

    @property
    def credited(self) -> int:
        """What its credit notes gave back, net of the notes that reverse others."""
        return sum(note.amount for note in self.credit_notes)

    @property
    def badge_status(self) -> str:
        """The status the pages show: a paid invoice whose payment was refunded (its credit
        notes give back all of it, or some) reads as refunded, as the payment does."""
        if self.status == InvoiceStatus.PAID and self.credit_notes:
            credited = self.credited
            if credited >= self.total:
                return "refunded"
            if credited > 0:
                return "partially_refunded"
        return self.display_status

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


class CreditNoteCounter(db.Model):
    """The last credit note number given in a year; taken like `InvoiceCounter`."""

    __tablename__ = "credit_note_counters"

    year: so.Mapped[int] = so.mapped_column(primary_key=True, autoincrement=False)
    last_number: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)


class CreditNote(db.Model):
    """Money given back against an invoice, numbered `CN-YYYY-NNNNNN` when issued.

    One per refund that went through (`refund_id`), and one more, negative, for a refund
    that later failed (`reverses_id`, the note it cancels). Never updated after it is
    written, except to store its PDF and note that it was e-mailed.
    """

    __tablename__ = "credit_notes"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    uuid: so.Mapped[uuid.UUID] = so.mapped_column(sa.Uuid, unique=True, default=new_uuid)
    number: so.Mapped[str] = so.mapped_column(sa.String(20), unique=True)
    invoice_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("invoices.id"), index=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    # The refund this note records (both the note and its reversal name it).
    refund_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("refunds.id"), index=True)
    # The note this one cancels; one reversal at most per note.
    reverses_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("credit_notes.id"), unique=True
    )
    # Positive: credited to the student; negative: a reversal taking a credit back.
    amount: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    currency: so.Mapped[str] = so.mapped_column(sa.String(3))
    reason: so.Mapped[str] = so.mapped_column(sa.String(500), default="")
    issued_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
    pdf: so.Mapped[bytes | None] = so.mapped_column(sa.LargeBinary, deferred=True)
    pdf_rendered_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    invoice: so.Mapped[Invoice] = so.relationship(back_populates="credit_notes")
    user: so.Mapped[User] = so.relationship()
    reverses: so.Mapped[CreditNote | None] = so.relationship(remote_side=[id])

    __table_args__ = (
        sa.CheckConstraint(
            "(reverses_id IS NULL AND amount > 0) OR (reverses_id IS NOT NULL AND amount < 0)",
            name="amount_sign",
        ),
        # A refund gets one note, and a reversal when it fails: never two of either.
        sa.Index(
            "uq_credit_notes_one_per_refund",
            "refund_id",
            unique=True,
            sqlite_where=sa.text("reverses_id IS NULL"),
            postgresql_where=sa.text("reverses_id IS NULL"),
        ),
    )

    @property
    def is_reversal(self) -> bool:
        return self.reverses_id is not None

    def __repr__(self) -> str:
        return f"<CreditNote {self.number} {self.amount}>"


class ReminderStep(enum.IntEnum):
    """Days past due at which an open invoice's student is reminded, once each."""

    FIRST = 1
    SECOND = 7
    FINAL = 14


class InvoiceReminder(db.Model):
    """One overdue reminder sent for one step of one invoice. The primary key is the
    promise: a step is claimed by inserting its row, so it is never sent twice, also when
    two runs of the reminder task overlap."""

    __tablename__ = "invoice_reminders"

    invoice_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("invoices.id"), primary_key=True)
    step: so.Mapped[int] = so.mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    sent_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.CheckConstraint(
            f"step IN ({', '.join(str(int(s)) for s in ReminderStep)})", name="step"
        ),
    )
