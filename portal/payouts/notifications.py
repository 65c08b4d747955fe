"""E-mail to tutors when a payout ends: sent (with the bank's reference, if any) or failed
(with the reason, and the money back in their balance). Only the masked destination is
ever written in a message. Sent by a task once the change has committed."""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task

from portal import emails
from portal.after_commit import enqueue_after_commit
from portal.extensions import db
from portal.money import format_money
from portal.payouts.models import PayoutRequest, PayoutStatus
from portal.rendering import portal_url

log = logging.getLogger(__name__)

MAIL_RETRIES = 5
# The ends of a payout a tutor is told about by e-mail; the rest shows on their page.
SUBJECTS = {
    PayoutStatus.COMPLETED: "Your payout of {amount} is on its way",
    PayoutStatus.FAILED: "Your payout of {amount} could not be made",
}


def notify_after_commit(payout: PayoutRequest) -> None:
    if payout.status in SUBJECTS:
        enqueue_after_commit(send_payout_notification, payout.id, str(payout.status))


@shared_task(
    bind=True, name="send_payout_notification", max_retries=MAIL_RETRIES, ignore_result=True
)
def send_payout_notification(self, payout_id: int, status: str) -> bool:
    try:
        return notify_tutor(payout_id, status)
    except Exception as exc:
        if self.request.is_eager:
            # No worker (the embedded default): the payout changed; mail must not undo that.
            log.exception("payout %s notification not sent", payout_id)
            return False
        if isinstance(exc, OSError | smtplib.SMTPException):
            raise self.retry(exc=exc, countdown=60 * 2**self.request.retries) from exc
        raise


def notify_tutor(payout_id: int, status: str) -> bool:
    """Send the message for `status` if the payout still has it; False if it moved on."""
    payout = db.session.get(PayoutRequest, payout_id)
    if payout is None or payout.status != status or status not in SUBJECTS:
        return False
    amount = format_money(payout.amount, payout.currency)
    emails.send(
        "payout_status",
        subject=SUBJECTS[status].format(amount=amount),
        to=[payout.tutor.email],
        payout=payout,
        amount=amount,
        payouts_url=portal_url("payouts.index"),
    )
    return True
