from celery import shared_task

from portal.extensions import db
from portal.wallets import services


@shared_task(name="release_pending_earnings")
def release_pending_earnings() -> int:
    """Move earnings whose lesson is completed and past the hold into available (hourly)."""
    released = services.release_pending_earnings()
    db.session.commit()
    return released
