import logging

from celery import shared_task

from portal.db import unit_of_work, utcnow
from portal.extensions import db
from portal.wallets import earnings
from portal.wallets.monthly_statements import (
    StatementDrift,
    issue_statement,
    previous_month,
    wallets_due,
)

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


@shared_task(name="issue_tutor_statements")
def issue_tutor_statements() -> str:
    """The statement of last month for every tutor who had money or movements in it (on
    the first of each month). One transaction per tutor; a run again issues only the
    missing ones."""
    month = previous_month(utcnow().date())
    issued = drifted = 0
    for wallet_id in wallets_due(month):
        try:
            with unit_of_work():
                issued += issue_statement(wallet_id, month) is not None
        except StatementDrift as exc:  # `flask ledger check` names it too
            drifted += 1
            log.error("no statement for wallet %s: %s", wallet_id, exc)
    return f"statements of {month:%Y-%m} issued: {issued}; not issued (ledger drift): {drifted}"
