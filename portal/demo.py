"""Demo data: an admin, two tutors, two students, a few lessons, invoices and two plans.
Idempotent."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from portal.accounts.models import User
from portal.accounts.services import create_user, get_user_by_email
from portal.bookings.models import Booking, BookingStatus
from portal.bookings.services import lesson_price
from portal.db import utcnow
from portal.extensions import db
from portal.invoices.demo import load_invoice_demo
from portal.payouts.demo import load_payout_demo
from portal.subscriptions.models import Plan
from portal.subscriptions.plans import create_plan

DEMO_PASSWORD = "demo-password-1"  # noqa: S105 - published demo credentials

DEMO_USERS = [
    ("admin@m4sh.app", "admin", "Ada Admin", None),
    ("tutor@m4sh.app", "tutor", "Tomás Tutor", 4500),
    ("tutor2@m4sh.app", "tutor", "Priya Patel", 6000),
    ("student@m4sh.app", "student", "Sam Student", None),
    ("student2@m4sh.app", "student", "Lee Learner", None),
]


def load_demo() -> list[User]:
    users = [_user(*row) for row in DEMO_USERS]
    by_email = {u.email: u for u in users}
    student, tutor, tutor2 = (
        by_email["student@m4sh.app"],
        by_email["tutor@m4sh.app"],
        by_email["tutor2@m4sh.app"],
    )
    has_lessons = db.session.scalar(
        sa.select(sa.func.count()).select_from(Booking).where(Booking.student_id == student.id)
    )
    if not has_lessons:
        today = utcnow().replace(minute=0, second=0, microsecond=0)
        for tutor_, days, hour, minutes in (
            (tutor, 2, 15, 60),
            (tutor, 5, 16, 90),
            (tutor2, 3, 10, 45),
        ):
            starts = (today + timedelta(days=days)).replace(hour=hour)
            db.session.add(
                Booking(
                    tutor_id=tutor_.id,
                    student_id=student.id,
                    starts_at=starts,
                    ends_at=starts + timedelta(minutes=minutes),
                    duration_minutes=minutes,
                    price=lesson_price(tutor_.hourly_rate, minutes),
                    currency=current_app.config["PLATFORM_CURRENCY"],
                    status=BookingStatus.PENDING_PAYMENT,
                )
            )
        db.session.flush()
    load_payout_demo(tutor, by_email["student2@m4sh.app"])
    load_invoice_demo(student)
    return users


def _user(email: str, role: str, name: str, hourly_rate: int | None) -> User:
    return get_user_by_email(email) or create_user(
        email, DEMO_PASSWORD, role, name=name, hourly_rate=hourly_rate
    )


# Against the demo tutors' 45.00 and 60.00 an hour, a lesson from a plan costs less. No
# trial: localstripe, the demo's Stripe, never starts one (its subscription stays
# incomplete without an invoice).
DEMO_PLANS = [
    {
        "slug": "lessons-4",
        "name": "Four lessons a month",
        "price": 16000,
        "lessons_per_month": 4,
        "features": ["Any tutor, lessons up to 2 hours", "One lesson a week", "Cancel any time"],
    },
    {
        "slug": "lessons-8",
        "name": "Eight lessons a month",
        "price": 30000,
        "lessons_per_month": 8,
        "features": ["Any tutor, lessons up to 2 hours", "Two lessons a week", "Cancel any time"],
    },
]


def load_demo_plans() -> list[Plan]:
    """The two demo plans, made at Stripe (localstripe) the first time."""
    made = []
    for values in DEMO_PLANS:
        existing = db.session.scalar(sa.select(Plan).where(Plan.slug == values["slug"]))
        made.append(existing or create_plan(**values))
    return made
