"""Demo data for payouts: a tutor with earnings to withdraw and a bank account for them.

Past lessons, completed longer ago than the earnings hold, whose earnings are posted and
released, so the demo tutor can request a payout at once and an admin can take it
through the queue. Idempotent: each lesson's earning has its own ledger key.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from portal.accounts.models import User
from portal.bookings.models import Booking, BookingStatus
from portal.bookings.services import lesson_price
from portal.db import utcnow
from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.money import split_fee
from portal.payouts import destinations
from portal.wallets.earnings import process_lesson_earning, release_pending_earnings

# Deutsche Bank's published example IBAN: valid, and nobody's account.
DEMO_IBAN = "DE89370400440532013000"
PAST_LESSONS = ((60, 16), (90, 14), (60, 12))  # (minutes, days ago)


def load_payout_demo(tutor: User, student: User) -> None:
    if destinations.get_destination(tutor.id) is None:
        destinations.update_bank_details(
            tutor.id, bank_account_holder=tutor.name, bank_name="Deutsche Bank",
            bank_iban=DEMO_IBAN,
        )  # fmt: skip
    for number, (minutes, days_ago) in enumerate(PAST_LESSONS):
        key = f"demo:past-lesson:{tutor.id}:{number}:earned"
        if db.session.scalar(sa.select(LedgerEntry.id).where(LedgerEntry.idempotency_key == key)):
            continue
        booking = _past_lesson(tutor, student, minutes, days_ago)
        split = split_fee(booking.price)
        process_lesson_earning(
            tutor_id=tutor.id, gross=split.amount, fee=split.fee, idempotency_key=key,
            booking_id=booking.id, memo="Demo lesson",
        )  # fmt: skip
    release_pending_earnings()


def _past_lesson(tutor: User, student: User, minutes: int, days_ago: int) -> Booking:
    starts = (utcnow() - timedelta(days=days_ago)).replace(hour=10, minute=0, second=0,
                                                            microsecond=0)  # fmt: skip
    booking = Booking(
        tutor_id=tutor.id, student_id=student.id, starts_at=starts,
        ends_at=starts + timedelta(minutes=minutes), duration_minutes=minutes,
        price=lesson_price(tutor.hourly_rate, minutes),
        currency=current_app.config["PLATFORM_CURRENCY"], status=BookingStatus.COMPLETED,
        completed_at=starts + timedelta(minutes=minutes),
    )  # fmt: skip
    db.session.add(booking)
    db.session.flush()
    return booking
