"""Receipts go out after the payment's transaction commits, with retries for the mail
server being away, and an hourly sweep for any that still have not gone out."""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task

from portal.db import unit_of_work, utcnow
from portal.emails import send_from_task
from portal.invoices.documents import (
    send_credit_note,
    send_invoice,
    send_receipt,
    unsent_document_ids,
    unsent_receipt_ids,
)
from portal.invoices.reminders import overdue_invoice_ids, send_reminder

log = logging.getLogger(__name__)

MAX_RETRIES = 5


@shared_task(bind=True, name="send_payment_receipt", max_retries=MAX_RETRIES, ignore_result=True)
def send_payment_receipt(self, invoice_id: int) -> bool:
    """E-mail a paid invoice's receipt, after the payment's transaction committed."""
    return send_from_task(self, send_receipt, invoice_id, "receipt for invoice")


@shared_task(bind=True, name="send_payment_receipts", max_retries=MAX_RETRIES, ignore_result=True)
def send_payment_receipts(self, invoice_ids: list[int]) -> int:
    """The receipts of many invoices paid together (renewal day: one message on the queue
    for a batch, not one per invoice), each sent once in its own unit of work; a retry
    sends only those still unsent."""
    return sum(
        send_from_task(self, send_receipt, invoice_id, "receipt for invoice")
        for invoice_id in invoice_ids
    )


@shared_task(bind=True, name="send_invoice_mail", max_retries=MAX_RETRIES, ignore_result=True)
def send_invoice_mail(self, invoice_id: int) -> bool:
    """E-mail an invoice just opened to its student, with a link to pay it and the PDF."""
    return send_from_task(self, send_invoice, invoice_id, "invoice")


@shared_task(bind=True, name="send_credit_note_mail", max_retries=MAX_RETRIES, ignore_result=True)
def send_credit_note_mail(self, note_id: int) -> bool:
    """E-mail a credit note to its student, after the refund's transaction committed."""
    return send_from_task(self, send_credit_note, note_id, "credit note")


@shared_task(name="send_missing_receipts")
def send_missing_receipts() -> str:
    """Queue the receipts of paid invoices that have not gone out (mail server down for
    longer than the retries, a worker lost mid-send)."""
    ids = unsent_receipt_ids(utcnow())
    for invoice_id in ids:
        send_payment_receipt.delay(invoice_id)
    return f"receipts queued: {len(ids)}"


@shared_task(name="send_missing_invoice_mail")
def send_missing_invoice_mail() -> str:
    """Queue the opened invoices and credit notes whose e-mail has not gone out (mail
    server down for longer than the retries, a worker lost mid-send)."""
    invoices, notes = unsent_document_ids(utcnow())
    for invoice_id in invoices:
        send_invoice_mail.delay(invoice_id)
    for note_id in notes:
        send_credit_note_mail.delay(note_id)
    return f"invoices queued: {len(invoices)}, credit notes queued: {len(notes)}"


@shared_task(name="send_overdue_invoice_reminders")
def send_overdue_invoice_reminders() -> str:
    """Daily: remind the students of open invoices 1, 7 and 14 days past due, once per
    step; each invoice in its own transaction, so one bad address stops nobody else's."""
    now = utcnow()
    sent = failed = 0
    for invoice_id in overdue_invoice_ids(now):
        try:
            with unit_of_work():
                sent += send_reminder(invoice_id, now) is not None
        except (OSError, smtplib.SMTPException):
            log.exception("overdue reminder for invoice %s not sent", invoice_id)
            failed += 1
    return f"reminders sent: {sent}" + (f", not sent: {failed}" if failed else "")
