"""Payments, refunds and saved cards.

A `Payment` is one attempt to collect money through the provider: one PaymentIntent, or
one Checkout Session (whose intent is filled in once it is paid). Its lifecycle is
`pending → succeeded | failed | cancelled` and `succeeded → partially_refunded →
refunded`. A lesson has at most one pending payment at a time (a partial unique index);
a failed or cancelled attempt is kept and the next attempt is a new row.

No card data is stored: a saved card is the provider's id plus brand, last four digits
and expiry, which is what the pages show.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from portal.accounts.models import User
from portal.bookings.models import Booking
from portal.db import UTCDateTime, new_uuid, one_of, utcnow
from portal.extensions import db


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


# Money was collected: these count for volume and can be (further) refunded or not.
COLLECTED_STATUSES = (
    PaymentStatus.SUCCEEDED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
)
REFUNDABLE_STATUSES = (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED)


class PaymentType(enum.StrEnum):
    LESSON = "lesson"
    SUBSCRIPTION = "subscription"
    # An open invoice an admin issued, paid by its student: all of it is platform revenue.
    INVOICE = "invoice"


class RefundStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


# The provider never paid these out (final states): they refund nothing.
UNPAID_REFUND_STATUSES = (RefundStatus.FAILED, RefundStatus.CANCELED)


class Payment(db.Model):
    __tablename__ = "payments"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    uuid: so.Mapped[uuid.UUID] = so.mapped_column(sa.Uuid, unique=True, default=new_uuid)
    payer_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    recipient_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    payment_type: so.Mapped[str] = so.mapped_column(sa.String(20), default=PaymentType.LESSON)
    status: so.Mapped[str] = so.mapped_column(
        sa.String(20), default=PaymentStatus.PENDING, index=True
    )
    amount: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    currency: so.Mapped[str] = so.mapped_column(sa.String(3))
    platform_fee: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    net_amount: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    amount_refunded: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    # The platform's share of what was refunded, so the next refund splits correctly.
    fee_refunded: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    provider: so.Mapped[str] = so.mapped_column(sa.String(20), default="stripe")
    provider_payment_id: so.Mapped[str | None] = so.mapped_column(sa.String(255), unique=True)
    provider_checkout_session_id: so.Mapped[str | None] = so.mapped_column(
        sa.String(255), unique=True
    )
    provider_charge_id: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    # The provider's last known status of the intent, e.g. `requires_action` while pending.
    provider_status: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    idempotency_key: so.Mapped[str] = so.mapped_column(sa.String(120), unique=True)
    booking_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("bookings.id"), index=True)
    subscription_id: so.Mapped[int | None] = so.mapped_column(index=True)
    # The open invoice an `invoice` payment pays (named, not imported: invoices sit below).
    invoice_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("invoices.id", use_alter=True), index=True
    )
    card_brand: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    card_last4: so.Mapped[str | None] = so.mapped_column(sa.String(4))
    failure_code: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    failure_message: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    succeeded_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime, index=True)
    failed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    cancelled_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    refunded_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    payer: so.Mapped[User] = so.relationship(foreign_keys=[payer_id])
    recipient: so.Mapped[User | None] = so.relationship(foreign_keys=[recipient_id])
    booking: so.Mapped[Booking | None] = so.relationship()
    refunds: so.Mapped[list[Refund]] = so.relationship(
        back_populates="payment", order_by="Refund.id"
    )

    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("platform_fee >= 0 AND net_amount >= 0", name="split_not_negative"),
        sa.CheckConstraint("platform_fee + net_amount = amount", name="split_sums_to_amount"),
        sa.CheckConstraint(
            "amount_refunded >= 0 AND amount_refunded <= amount", name="refunded_within_amount"
        ),
        sa.CheckConstraint(
            "fee_refunded >= 0 AND fee_refunded <= platform_fee", name="fee_refunded_within_fee"
        ),
        sa.CheckConstraint(one_of("status", PaymentStatus), name="status"),
        sa.CheckConstraint(one_of("payment_type", PaymentType), name="payment_type"),
        # One pending attempt per lesson: two tabs or two requests cannot both start one.
        sa.Index(
            "uq_payments_one_pending_per_booking",
            "booking_id",
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        ),
        # Likewise one pending attempt per invoice.
        sa.Index(
            "uq_payments_one_pending_per_invoice",
            "invoice_id",
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        ),
        sa.CheckConstraint(
            "(payment_type = 'invoice') = (invoice_id IS NOT NULL)", name="invoice_payment"
        ),
    )

    @property
    def remaining(self) -> int:
        """What can still be refunded."""
        return self.amount - self.amount_refunded

    @property
    def via_checkout(self) -> bool:
        return self.provider_checkout_session_id is not None

    @property
    def needs_action(self) -> bool:
        return self.status == PaymentStatus.PENDING and self.provider_status == "requires_action"

    @property
    def display_status(self) -> str:
        """The status a user or client sees: a pending intent waiting for 3-D Secure says so."""
        return "requires_action" if self.needs_action else self.status

    def __repr__(self) -> str:
        return f"<Payment {self.uuid} {self.status} {self.amount} {self.currency}>"


class Refund(db.Model):
    __tablename__ = "refunds"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    uuid: so.Mapped[uuid.UUID] = so.mapped_column(sa.Uuid, unique=True, default=new_uuid)
    payment_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("payments.id"), index=True)
    amount: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    currency: so.Mapped[str] = so.mapped_column(sa.String(3))
    # How the refund splits between platform fee and the tutor's net, like the payment
    # (the last refund takes the remainder: never more fee or net back than was paid).
    fee_part: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    net_part: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    status: so.Mapped[str] = so.mapped_column(sa.String(20), default=RefundStatus.PENDING)
    reason: so.Mapped[str] = so.mapped_column(sa.String(500), default="")
    provider_refund_id: so.Mapped[str | None] = so.mapped_column(sa.String(255), unique=True)
    idempotency_key: so.Mapped[str] = so.mapped_column(sa.String(120), unique=True)
    requested_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
    # When we learnt the provider could not pay it out (failed or canceled).
    failed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # When the payer was e-mailed about it, for a payment without an invoice (an invoiced
    # payment's refund is told by its credit note's e-mail, `CreditNote.sent_at`).
    notice_sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    payment: so.Mapped[Payment] = so.relationship(back_populates="refunds")
    requested_by: so.Mapped[User | None] = so.relationship()

    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("fee_part >= 0 AND net_part >= 0", name="split_not_negative"),
        sa.CheckConstraint(one_of("status", RefundStatus), name="status"),
    )


class PaymentMethod(db.Model):
    """A card saved with the provider for one user; the row holds display details only."""

    __tablename__ = "payment_methods"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    provider: so.Mapped[str] = so.mapped_column(sa.String(20), default="stripe")
    provider_method_id: so.Mapped[str] = so.mapped_column(sa.String(255), unique=True)
    card_brand: so.Mapped[str] = so.mapped_column(sa.String(20))
    card_last4: so.Mapped[str] = so.mapped_column(sa.String(4))
    exp_month: so.Mapped[int]
    exp_year: so.Mapped[int]
    is_default: so.Mapped[bool] = so.mapped_column(default=False)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    user: so.Mapped[User] = so.relationship()

    __table_args__ = (
        sa.CheckConstraint("exp_month BETWEEN 1 AND 12", name="exp_month"),
        sa.Index(
            "uq_payment_methods_one_default_per_user",
            "user_id",
            unique=True,
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        ),
    )

    @property
    def label(self) -> str:
        return f"{self.card_brand.title()} •••• {self.card_last4}"

    @property
    def expiry(self) -> str:
        return f"{self.exp_month:02d}/{self.exp_year % 100:02d}"
