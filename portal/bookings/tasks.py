from celery import shared_task

from portal.bookings import services
from portal.extensions import db


@shared_task(name="complete_ended_lessons")
def complete_ended_lessons() -> int:
    """Complete lessons whose end has passed, so their earnings can be released."""
    done = services.complete_ended_lessons()
    db.session.commit()
    return done
