"""The subscription e-mails: started, payment failed (with a link to pay again), trial
ends in 3 days, ended.

They are queued after the commit of the change they announce (`enqueue_after_commit`),
once per change: the change happens once, under the subscription's row lock. A mail
server that is away is retried with backoff; without a worker (the embedded default)
a failure is logged and never undoes the change.
"""

from __future__ import annotations

import enum
import logging
import smtplib

from celery import shared_task

from portal import emails
from portal.extensions import db
from portal.rendering import portal_url
from portal.subscriptions.models import Subscription

log = logging.getLogger(__name__)

MAX_RETRIES = 5
BACKOFF_SECONDS = 60


class Mail(enum.StrEnum):
    STARTED = "started"
    PAYMENT_FAILED = "payment_failed"
    TRIAL_ENDING = "trial_ending"
    ENDED = "ended"


SUBJECTS = {
    Mail.STARTED: "Your {plan} subscription has started",
    Mail.PAYMENT_FAILED: "Your {plan} payment did not go through",
    Mail.TRIAL_ENDING: "Your {plan} trial ends in 3 days",
    Mail.ENDED: "Your {plan} subscription has ended",
}


def subscription_context(subscription: Subscription) -> dict:
    return {
        "subscription": subscription,
        "plan": subscription.plan,
        "student": subscription.student,
        "subscription_url": portal_url("subscriptions.mine"),
    }


def send_message(subscription_id: int, kind: str) -> bool:
    subscription = db.session.get(Subscription, subscription_id)
    if subscription is None:
        return False
    kind = Mail(kind)
    emails.send(
        f"subscription_{kind}",
        subject=SUBJECTS[kind].format(plan=subscription.plan.name),
        to=[subscription.student.email],
        **subscription_context(subscription),
    )
    return True


@shared_task(bind=True, name="send_subscription_email", max_retries=MAX_RETRIES, ignore_result=True)
def send_subscription_email(self, subscription_id: int, kind: str) -> bool:
    """Mail the student about their subscription (`kind` is a `Mail`)."""
    if self.request.is_eager:
        try:
            return send_message(subscription_id, kind)
        except Exception:  # the change it announces is committed; mail must not undo it
            log.exception("%s e-mail for subscription %s not sent", kind, subscription_id)
            return False
    try:
        return send_message(subscription_id, kind)
    except (OSError, smtplib.SMTPException) as exc:
        raise self.retry(exc=exc, countdown=BACKOFF_SECONDS * 2**self.request.retries) from exc
