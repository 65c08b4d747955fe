"""Demo lessons lived through the real services, each on the day it happened.

Every step a user or the scheduler would take is taken by the same service, run as of its
moment (`portal.db.as_of`): the student books, pays (the provider's answer recorded by
`outcome.mark_payment_succeeded`, the path every payment's success takes, with no card:
the demo loads without Stripe), the tutor completes the lesson after it ends, the hourly
release makes the earnings available once the hold is over, and an admin refunds. So each
paid lesson has its payment, its invoice and its ledger entries, dated as they happened,
and every page agrees with `flask ledger check`.

The story: three lessons of the demo tutor, completed and released (money to withdraw);
one of the second tutor, completed and partly refunded; one of the second tutor, paid and
then refunded in full before it happened, which cancelled it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from portal.accounts.models import User
from portal.bookings.models import Booking
from portal.bookings.services import complete_booking, create_booking
from portal.db import as_of, utcnow
from portal.payments import outcome, refunds
from portal.payments.intents import new_lesson_payment
from portal.payments.lookups import paid_payments_by_lesson
from portal.payments.models import Payment
from portal.providers.base import ProviderRefund
from portal.wallets.earnings import release_pending_earnings

# How a payment the demo records is paid: no card, no provider intent.
DEMO_WAY = "demo"
PAID_AFTER = timedelta(minutes=5)  # the student pays this long after booking
RELEASE_AFTER = timedelta(minutes=5)  # past the hold: the hourly release runs


@dataclass(frozen=True)
class DemoLesson:
    tutor: str
    student: str
    minutes: int
    starts_in_days: int  # negative: in the past
    hour: int  # UTC
    booked_days_before: int
    completed: bool = False
    # (amount or None for all that remains, days from now, reason), made by an admin.
    refund: tuple[int | None, int, str] | None = None


LESSONS = (
    DemoLesson("tutor@m4sh.app", "student2@m4sh.app", 60, -16, 10, 2, completed=True),
    DemoLesson("tutor@m4sh.app", "student2@m4sh.app", 90, -14, 10, 2, completed=True),
    DemoLesson("tutor@m4sh.app", "student2@m4sh.app", 60, -12, 10, 2, completed=True),
    DemoLesson(
        "tutor2@m4sh.app", "student@m4sh.app", 45, -10, 15, 3, completed=True,
        refund=(1000, -9, "The lesson started 10 minutes late"),
    ),
    DemoLesson(
        "tutor2@m4sh.app", "student2@m4sh.app", 60, 4, 11, 7,
        refund=(None, -1, "The tutor cannot make that day"),
    ),
)  # fmt: skip


def load_lesson_demo(users: dict[str, User], admin: User) -> list[Booking]:
    """Live the demo lessons' story, every step in the order it happened; then release
    what is due now. A step not due yet (a release under a long EARNINGS_HOLD_DAYS) is
    left to the scheduler. Not idempotent by itself: the caller loads it once."""
    booked: dict[DemoLesson, Booking] = {}
    steps = [step for lesson in LESSONS for step in _steps(lesson, users, admin, booked)]
    now = utcnow()
    for moment, step in sorted(steps, key=lambda pair: pair[0]):
        if moment > now:
            continue
        with as_of(moment):
            step()
    release_pending_earnings()
    return list(booked.values())


def _steps(
    lesson: DemoLesson, users: dict[str, User], admin: User, booked: dict
) -> list[tuple[datetime, Callable[[], object]]]:
    """The moments of one lesson's story and what happens at each."""
    tutor, student = users[lesson.tutor], users[lesson.student]
    day = utcnow().replace(hour=lesson.hour, minute=0, second=0, microsecond=0)
    starts = day + timedelta(days=lesson.starts_in_days)
    booked_at = starts - timedelta(days=lesson.booked_days_before)
    ends = starts + timedelta(minutes=lesson.minutes)
    hold = timedelta(days=current_app.config["EARNINGS_HOLD_DAYS"])
    currency = current_app.config["PLATFORM_CURRENCY"]

    def book():
        booked[lesson] = create_booking(student, tutor.id, starts, lesson.minutes,
                                        currency=currency)  # fmt: skip

    steps = [(booked_at, book), (booked_at + PAID_AFTER, lambda: pay(student, booked[lesson]))]
    if lesson.completed:
        steps.append((ends, lambda: complete_booking(tutor, booked[lesson].id)))
        steps.append((ends + hold + RELEASE_AFTER, release_pending_earnings))
    if lesson.refund:
        amount, days, reason = lesson.refund
        when = day + timedelta(days=days, hours=2)
        steps.append((when, lambda: refund(admin, booked[lesson], amount, reason)))
    return steps


def pay(student: User, booking: Booking) -> Payment:
    """The lesson's payment, recorded as a success without a provider: a pending attempt,
    then the one success path (the lesson scheduled, the tutor's earning, the invoice, the
    receipt after the commit)."""
    payment = new_lesson_payment(student, booking, way=DEMO_WAY)
    payment.provider = DEMO_WAY
    outcome.mark_payment_succeeded(payment)
    return payment


def refund(admin: User, booking: Booking, amount: int | None, reason: str) -> None:
    """An admin's refund of the lesson's payment, recorded as the provider's answer would
    be (`refunds.apply_provider_refund`, the path a refund made at Stripe takes)."""
    payment = paid_payments_by_lesson([booking.id])[booking.id]
    value = payment.remaining if amount is None else amount
    row = refunds.new_refund(payment, value, reason, requested_by=admin)
    made = ProviderRefund(
        id=f"re_demo_{row.uuid.hex[:20]}", amount=value, currency=payment.currency,
        status="succeeded",
    )  # fmt: skip
    refunds.apply_provider_refund(payment, made, refund=row, actor_id=admin.id)
