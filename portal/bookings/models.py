from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from portal.accounts.models import User
from portal.db import UTCDateTime, utcnow
from portal.extensions import db


class BookingStatus(enum.StrEnum):
    PENDING_PAYMENT = "pending_payment"
    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# Bookings in these states hold the tutor's time.
ACTIVE_STATUSES = (BookingStatus.PENDING_PAYMENT, BookingStatus.SCHEDULED, BookingStatus.COMPLETED)


class Booking(db.Model):
    __tablename__ = "bookings"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    tutor_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"))
    student_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"))
    starts_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    ends_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    duration_minutes: so.Mapped[int]
    price: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    currency: so.Mapped[str] = so.mapped_column(sa.String(3))
    status: so.Mapped[str] = so.mapped_column(sa.String(20), default=BookingStatus.PENDING_PAYMENT)
    # Set when a subscription's quota pays for the lesson instead of a card payment.
    subscription_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("subscriptions.id"), index=True
    )
    # The period whose quota the lesson was taken from; a cancellation gives it back there.
    subscription_period_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("subscription_periods.id"), index=True
    )
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    completed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    cancelled_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    tutor: so.Mapped[User] = so.relationship(foreign_keys=[tutor_id], lazy="joined")
    student: so.Mapped[User] = so.relationship(foreign_keys=[student_id], lazy="joined")

    __table_args__ = (
        sa.CheckConstraint("price >= 0", name="price_not_negative"),
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.CheckConstraint(
            "status IN ('pending_payment', 'scheduled', 'completed', 'cancelled')", name="status"
        ),
        sa.Index("ix_bookings_tutor_starts", "tutor_id", "starts_at"),
        sa.Index("ix_bookings_student_starts", "student_id", "starts_at"),
    )

    @property
    def has_started(self) -> bool:
        return utcnow() >= self.starts_at
