"""When a payout is expected to reach the tutor, counted in business days (Monday to
Friday, UTC).

An admin reviews a request within one business day. A bank transfer then arrives within
three business days of being sent; a Stripe transfer lands in the tutor's Stripe account
at once, and Stripe pays it to their bank on its usual schedule, about two business days.
A finished payout (completed, failed or cancelled) has no expected arrival.
"""

from __future__ import annotations

from datetime import date, timedelta

from portal.db import utcnow
from portal.payouts.models import OPEN_STATUSES, PayoutMethod, PayoutRequest, PayoutStatus

REVIEW_DAYS = 1
TRANSIT_DAYS = {PayoutMethod.BANK_TRANSFER: 3, PayoutMethod.STRIPE: 2}


def add_business_days(day: date, count: int) -> date:
    while count > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            count -= 1
    return day


def expected_arrival(payout: PayoutRequest) -> date | None:
    """The last business day the money should take to arrive, or None once it is settled."""
    if payout.status not in OPEN_STATUSES:
        return None
    transit = TRANSIT_DAYS.get(payout.payout_method, 3)
    if payout.status == PayoutStatus.PROCESSING and payout.processed_at:
        return add_business_days(payout.processed_at.date(), transit)
    start = max(payout.created_at, utcnow()) if payout.status == PayoutStatus.PENDING else utcnow()
    return add_business_days(start.date(), REVIEW_DAYS + transit)
