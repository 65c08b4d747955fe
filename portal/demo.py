"""Demo data: an admin, two tutors, two students, their lessons (paid, completed, released
and refunded through the real services: see `portal/payments/demo.py`), a few lessons to
pay, two open invoices and two plans. Idempotent: the lessons are loaded once, while
neither demo student has any."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from portal.accounts.models import User
from portal.accounts.services import create_user, get_user_by_email
from portal.bookings.models import Booking
from portal.bookings.services import create_booking
from portal.db import utcnow
from portal.extensions import db
from portal.invoices.demo import load_invoice_demo
from portal.payments.demo import load_lesson_demo
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
    load_payout_demo(by_email["tutor@m4sh.app"])
    students = [by_email["student@m4sh.app"], by_email["student2@m4sh.app"]]
    has_lessons = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Booking)
        .where(Booking.student_id.in_([s.id for s in students]))
    )
    if not has_lessons:
        load_lesson_demo(by_email, by_email["admin@m4sh.app"])
        _book_unpaid_lessons(by_email)
    load_invoice_demo(by_email["student@m4sh.app"])
    return users


# Lessons the demo student has booked and not paid yet: (tutor, days ahead, hour, minutes).
UNPAID_LESSONS = (
    ("tutor@m4sh.app", 2, 15, 60),
    ("tutor@m4sh.app", 5, 16, 90),
    ("tutor2@m4sh.app", 3, 10, 45),
)


def _book_unpaid_lessons(by_email: dict[str, User]) -> None:
    today = utcnow().replace(minute=0, second=0, microsecond=0)
    for tutor, days, hour, minutes in UNPAID_LESSONS:
        create_booking(
            by_email["student@m4sh.app"],
            by_email[tutor].id,
            (today + timedelta(days=days)).replace(hour=hour),
            minutes,
            currency=current_app.config["PLATFORM_CURRENCY"],
        )


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
