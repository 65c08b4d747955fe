"""Helpers for the money tests: bookings to earn from, and figures to compare."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.bookings.models import BookingStatus
from portal.db import utcnow
from portal.extensions import db
from portal.ledger.accounts import platform_balances
from portal.wallets.summary import get_wallet_summary
from tests import factories


def figures(tutor_id: int) -> dict:
    s = get_wallet_summary(tutor_id)
    return {
        "pending": s.pending,
        "available": s.available,
        "in_flight": s.in_flight,
        "earned": s.total_earned,
        "withdrawn": s.total_withdrawn,
    }


def platform() -> dict[str, int]:
    return {account.code: balance for account, balance in platform_balances()}


@pytest.fixture
def lesson(tutor, student):
    """`lesson()` → a scheduled (paid) booking with `tutor`; `lesson(completed_days_ago=8)`."""

    def _lesson(completed_days_ago: int | None = None, **kwargs):
        booking = factories.BookingFactory(
            tutor=tutor, student=student, status=BookingStatus.SCHEDULED, **kwargs
        )
        if completed_days_ago is not None:
            complete(booking, days_ago=completed_days_ago)
        return booking

    return _lesson


def complete(booking, *, days_ago: float) -> None:
    booking.status = BookingStatus.COMPLETED
    booking.completed_at = utcnow() - timedelta(days=days_ago)
    db.session.commit()
