"""A covered lesson's money: when it is completed, its tutor earns its share of the
period's price, out of unearned subscription revenue.

The share is ``round_half_up(funds / lessons_allowed)`` of the period the lesson was
taken from (its price, plus what a period it replaced mid-way carried into it), the
period's last lesson taking what remains (`periods.lesson_share`);
the platform keeps its fee at the same rate as on a paid lesson
(``PLATFORM_FEE_PERCENT``) and the rest goes to the tutor's pending earnings, released
like any earning (`portal.wallets.earnings`). A lesson of a trial period (nothing paid)
earns nothing. When the lesson is the last one its closed period was waiting for, what
the period still holds becomes platform revenue.
"""

from __future__ import annotations

from portal.bookings.models import Booking
from portal.extensions import db
from portal.money import split_fee
from portal.subscriptions.periods import (
    lesson_share,
    lock_period,
    period_key,
    release_unreserved,
    unearned,
)
from portal.wallets.earnings import process_subscription_earning
from portal.wallets.models import WalletTransaction


def share_completed_lesson(booking: Booking) -> WalletTransaction | None:
    """Pay the tutor the completed covered lesson's share; the statement line, if any.

    Call it once, when the booking becomes completed (its row locked): the period row is
    locked here, then the tutor's wallet.
    """
    if booking.subscription_period_id is None:
        return None
    period = lock_period(booking.subscription_period_id)
    share = min(lesson_share(period, period.lessons_shared, period.shared), unearned(period))
    period.lessons_shared += 1
    period.shared += share
    line = None
    if share > 0:
        line = process_subscription_earning(
            tutor_id=booking.tutor_id,
            gross=share,
            fee=split_fee(share).fee,
            idempotency_key=period_key(period.id, f"booking:{booking.id}:share"),
            booking_id=booking.id,
            memo=f"Subscription lesson {booking.id}",
        )
    release_unreserved(period, period_key(period.id, f"booking:{booking.id}:rest"))
    db.session.flush()
    return line
