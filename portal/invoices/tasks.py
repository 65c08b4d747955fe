"""Receipts go out after the payment's transaction commits, with retries for the mail
server being away."""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task

from portal.invoices.documents import send_receipt

log = logging.getLogger(__name__)

MAX_RETRIES = 5
BACKOFF_SECONDS = 60


@shared_task(bind=True, name="send_payment_receipt", max_retries=MAX_RETRIES, ignore_result=True)
def send_payment_receipt(self, invoice_id: int) -> bool:
    try:
        return send_receipt(invoice_id)
    except (OSError, smtplib.SMTPException) as exc:
        if self.request.is_eager:
            # No worker (the embedded default): the payment went through; say so and go on.
            log.warning("receipt for invoice %s not sent: %s", invoice_id, exc)
            return False
        raise self.retry(exc=exc, countdown=BACKOFF_SECONDS * 2**self.request.retries) from exc
