from celery import shared_task

from portal.accounts.sessions import delete_expired_sessions as delete_expired
from portal.extensions import db


@shared_task(name="delete_expired_sessions")
def delete_expired_sessions() -> int:
    """Forget sessions unused for SESSION_LIFETIME_DAYS (daily); returns how many records."""
    count = delete_expired()
    db.session.commit()
    return count
