"""Plans, subscriptions, and the billing periods a subscription's quota and money live in.

A plan's price never changes: a new price is a new plan, and a plan with subscribers is
archived rather than deleted. A student has at most one live subscription (a partial
unique index decides, also under a race). Each paid Stripe invoice opens a
`SubscriptionPeriod`: the lessons it allows, the lessons taken from it, and how much of
its price has been shared out to tutors; what is left when it closes is platform revenue.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from portal.accounts.models import User
from portal.db import UTCDateTime, new_uuid, one_of, utcnow
from portal.extensions import db


class PlanInterval(enum.StrEnum):
    MONTH = "month"
    YEAR = "year"


class Plan(db.Model):
    __tablename__ = "plans"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    slug: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    price: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    currency: so.Mapped[str] = so.mapped_column(sa.String(3))
    interval: so.Mapped[str] = so.mapped_column(sa.String(10), default=PlanInterval.MONTH)
    lessons_per_month: so.Mapped[int] = so.mapped_column(sa.Integer)
    # What the plan gives, one line each, as shown on the plans page.
    features: so.Mapped[list[str]] = so.mapped_column(sa.JSON, default=list)
    trial_days: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    provider_product_id: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    provider_price_id: so.Mapped[str | None] = so.mapped_column(sa.String(255), unique=True)
    is_active: so.Mapped[bool] = so.mapped_column(default=True)
    archived_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.CheckConstraint("price > 0", name="price_positive"),
        sa.CheckConstraint("lessons_per_month > 0", name="lessons_positive"),
        sa.CheckConstraint("trial_days >= 0", name="trial_not_negative"),
        sa.CheckConstraint(one_of("interval", PlanInterval), name="interval"),
    )

    def __repr__(self) -> str:
        return f"<Plan {self.slug} {self.price} {self.currency}/{self.interval}>"


class SubscriptionStatus(enum.StrEnum):
    # Stripe's state while the first invoice waits for 3-D Secure.
    INCOMPLETE = "incomplete"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    EXPIRED = "expired"


# A student holds at most one subscription in these states.
LIVE_STATUSES = (
    SubscriptionStatus.INCOMPLETE,
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.PAST_DUE,
)
# Covered bookings are offered only in these.
BOOKABLE_STATUSES = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE)


class Subscription(db.Model):
    __tablename__ = "subscriptions"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    uuid: so.Mapped[uuid.UUID] = so.mapped_column(sa.Uuid, unique=True, default=new_uuid)
    student_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    plan_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("plans.id"), index=True)
    status: so.Mapped[str] = so.mapped_column(sa.String(12), default=SubscriptionStatus.INCOMPLETE)
    current_period_start: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    current_period_end: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime, index=True)
    trial_start: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    trial_end: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # Lessons taken from the current period (mirrors the open period's count).
    lessons_used: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    cancel_at_period_end: so.Mapped[bool] = so.mapped_column(default=False)
    canceled_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    ended_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # A downgrade waits for the end of the period; this is the plan it becomes then.
    next_plan_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("plans.id"))
    provider_customer_id: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    provider_subscription_id: so.Mapped[str | None] = so.mapped_column(sa.String(255), unique=True)
    # The newest Stripe invoice still unpaid (3-D Secure, or past due): paying it again.
    open_provider_invoice_id: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    # `created` of the newest Stripe event applied: an older event arriving late is ignored.
    provider_event_created: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    # When the state was last confirmed with Stripe (the hourly sync asks about stale ones).
    synced_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    student: so.Mapped[User] = so.relationship(lazy="joined")
    plan: so.Mapped[Plan] = so.relationship(foreign_keys=[plan_id], lazy="joined")
    next_plan: so.Mapped[Plan | None] = so.relationship(foreign_keys=[next_plan_id])
    periods: so.Mapped[list[SubscriptionPeriod]] = so.relationship(
        back_populates="subscription", order_by="SubscriptionPeriod.starts_at"
    )

    __table_args__ = (
        sa.CheckConstraint(one_of("status", SubscriptionStatus), name="status"),
        sa.CheckConstraint("lessons_used >= 0", name="lessons_used_not_negative"),
        # One live subscription per student, decided by the database.
        sa.Index(
            "uq_subscriptions_one_live_per_student",
            "student_id",
            unique=True,
            postgresql_where=sa.text(one_of("status", LIVE_STATUSES)),
            sqlite_where=sa.text(one_of("status", LIVE_STATUSES)),
        ),
    )

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def lessons_remaining(self) -> int:
        return max(self.plan.lessons_per_month - self.lessons_used, 0)

    def __repr__(self) -> str:
        return f"<Subscription {self.id} {self.status} plan={self.plan_id}>"


class SubscriptionPeriod(db.Model):
    """One paid (or trial) period: its quota and the money shared out of its price.

    Its funds are `amount_paid` plus `carried_in`, what the period it replaced mid-way (a
    plan change) had not spent; `shared` never exceeds them. A closed period's remainder
    went to platform revenue, or, when a newer period replaced it before its end, to that
    period (`carried_out`). A covered booking records the period its lesson came from, so
    a cancellation gives the lesson back to that period.
    """

    __tablename__ = "subscription_periods"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    subscription_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("subscriptions.id"))
    starts_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    ends_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    # The Stripe invoice that paid for it (none for a trial); one period per invoice.
    provider_invoice_id: so.Mapped[str | None] = so.mapped_column(sa.String(255), unique=True)
    amount_paid: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    currency: so.Mapped[str] = so.mapped_column(sa.String(3))
    lessons_allowed: so.Mapped[int] = so.mapped_column(sa.Integer)
    lessons_used: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    # Completed covered lessons whose share has been moved out, and the total moved.
    lessons_shared: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    shared: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    # What went to platform subscription revenue: the unshared rest when it closed, and
    # the share of a lesson cancelled after that.
    to_revenue: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    # Unspent money of the period this one replaced before its end (a plan change), and
    # this period's own unspent money handed to the one that replaced it.
    carried_in: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    carried_out: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    closed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    subscription: so.Mapped[Subscription] = so.relationship(back_populates="periods")

    __table_args__ = (
        sa.CheckConstraint("amount_paid >= 0", name="amount_paid_not_negative"),
        sa.CheckConstraint(
            "lessons_used >= 0 AND lessons_used <= lessons_allowed", name="quota_respected"
        ),
        sa.CheckConstraint(
            "lessons_shared >= 0 AND lessons_shared <= lessons_allowed", name="shares_counted"
        ),
        sa.CheckConstraint("carried_in >= 0 AND carried_out >= 0", name="carried_not_negative"),
        sa.CheckConstraint(
            "shared >= 0 AND shared <= amount_paid + carried_in", name="shares_within_price"
        ),
        sa.CheckConstraint(
            "to_revenue >= 0 AND shared + to_revenue + carried_out <= amount_paid + carried_in",
            name="revenue_within_price",
        ),
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.Index("ix_subscription_periods_subscription_starts", "subscription_id", "starts_at"),
    )

    def __repr__(self) -> str:
        used = f"{self.lessons_used}/{self.lessons_allowed}"
        return f"<SubscriptionPeriod {self.id} sub={self.subscription_id} {used}>"
