import logging

from celery import shared_task

from portal.db import utcnow
from portal.extensions import db
from portal.wallets import earnings

log = logging.getLogger(__name__)


@shared_task(name="release_pending_earnings")
def release_pending_earnings() -> int:
    """Move earnings whose lesson is completed and past the hold into available (hourly).

    One transaction per tutor: each wallet is locked only for its own release, and one
    tutor's failure does not hold back everybody else's money.
    """
    now = utcnow()
    released = 0
    for tutor_id in earnings.tutors_with_due_earnings(now):
        try:
            released += earnings.release_earnings_of(tutor_id, now)
            db.session.commit()
        except Exception:  # logged; the next hourly run tries this tutor again
            db.session.rollback()
            log.exception("could not release the earnings of tutor %s", tutor_id)
    return released
