"""The payments' scheduled work: abandoned attempts cancelled at Stripe and here."""

from __future__ import annotations

import logging
from collections import Counter

from celery import shared_task

from portal.db import unit_of_work, utcnow
from portal.errors import PortalError
from portal.payments.expiry import cancel_expired_attempt, expired_attempt_ids

log = logging.getLogger(__name__)


@shared_task(name="cleanup_expired_payment_intents")
def cleanup_expired_payment_intents() -> str:
    """Cancel the attempts pending longer than PAYMENT_INTENT_EXPIRY_HOURS; one
    transaction each, so one Stripe cannot answer for does not stop the rest."""
    outcomes: Counter[str] = Counter()
    for payment_id in expired_attempt_ids(utcnow()):
        try:
            with unit_of_work():
                outcomes[cancel_expired_attempt(payment_id)] += 1
        except PortalError as exc:  # Stripe unreachable, or a Checkout page still open
            outcomes["kept"] += 1
            log.info("pending payment %s kept: %s", payment_id, exc.message)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(outcomes.items())) or "none"
    return f"expired payment attempts: {counts}"
