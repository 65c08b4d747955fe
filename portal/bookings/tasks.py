import logging

from celery import shared_task

from portal.bookings import services
from portal.db import unit_of_work, utcnow
from portal.errors import PortalError

log = logging.getLogger(__name__)


@shared_task(name="complete_ended_lessons")
def complete_ended_lessons() -> int:
    """Complete lessons whose end has passed, so their earnings can be released."""
    with unit_of_work():
        return services.complete_ended_lessons()


@shared_task(name="expire_unpaid_bookings")
def expire_unpaid_bookings() -> str:
    """Cancel unpaid lessons past BOOKING_HOLD_MINUTES, freeing the tutor's time; one
    transaction each, so one that cannot be cancelled stops nothing."""
    expired = kept = 0
    for booking_id in services.unpaid_past_hold(utcnow()):
        try:
            with unit_of_work():
                expired += services.expire_unpaid_booking(booking_id)
        except PortalError as exc:  # paid meanwhile, or the provider could not be reached
            kept += 1
            log.info("unpaid lesson %s kept: %s", booking_id, exc.message)
    return f"unpaid lessons cancelled: {expired}; kept: {kept}"
