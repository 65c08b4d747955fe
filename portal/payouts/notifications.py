"""E-mail to tutors when a payout ends: sent (with the bank's reference, if any) or failed
(with the reason, and the money back in their balance). Only the masked destination is
ever written in a message. Sent by a task once the change has committed."""

from __future__ import annotations

from celery import shared_task

from portal import emails
from portal.after_commit import enqueue_after_commit
from portal.extensions import db
from portal.money import format_money
from portal.payouts.models import PayoutRequest, PayoutStatus
from portal.rendering import portal_url

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
    return emails.send_with_retries(
        self, lambda: notify_tutor(payout_id, status), f"payout {payout_id} notification"
    )


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
