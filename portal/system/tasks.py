from celery import shared_task

from portal.extensions import db


@shared_task(name="ping")
def ping(value: str = "pong") -> dict:
    """Round trip through the broker and the database; used by health checks and tests."""
    count = db.session.execute(db.text("SELECT 1")).scalar_one()
    return {"value": value, "db": count}
