"""Overdue reminders: an open invoice past its due date is reminded of at 1, 7 and 14
days overdue, one e-mail per step, never twice for the same step.

A step is claimed by inserting its `InvoiceReminder` row (`INSERT … ON CONFLICT DO
NOTHING`) in the transaction that sends the mail: a second run at the same time waits
on that row and then finds it taken, so overlapping runs send each step once. An invoice
found late (the task did not run for a while) gets only the latest step it has reached,
and never an earlier step after a later one. The mail goes out before the claim commits:
if the commit is lost, that step may go out again on the next run (at least once).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_mail import Message

from portal import emails
from portal.extensions import db, mail
from portal.invoices.models import Invoice, InvoiceReminder, InvoiceStatus, ReminderStep
from portal.ledger.accounts import insert_or_skip
from portal.rendering import portal_url

log = logging.getLogger(__name__)

BATCH = 1000


def step_reached(due_at: datetime, now: datetime) -> ReminderStep | None:
    """The latest reminder step an invoice due at `due_at` has reached by `now`."""
    days = (now - due_at) // timedelta(days=1)
    reached = [step for step in ReminderStep if days >= step]
    return reached[-1] if reached else None


def overdue_invoice_ids(now: datetime) -> list[int]:
    """Open invoices at least a day past due, oldest due first."""
    return list(
        db.session.scalars(
            sa.select(Invoice.id)
            .where(
                Invoice.status == InvoiceStatus.OPEN,
                Invoice.due_at <= now - timedelta(days=ReminderStep.FIRST),
            )
            .order_by(Invoice.due_at, Invoice.id)
            .limit(BATCH)
        )
    )


def send_reminder(invoice_id: int, now: datetime) -> ReminderStep | None:
    """Send the invoice's latest due reminder unless it (or a later one) went out; the step
    sent, or None. The caller commits, which releases the claim for other runs to see."""
    invoice = db.session.scalar(
        sa.select(Invoice).where(Invoice.id == invoice_id, Invoice.status == InvoiceStatus.OPEN)
    )
    if invoice is None or invoice.due_at is None:
        return None
    step = step_reached(invoice.due_at, now)
    if step is None or not _claim(invoice.id, step, now):
        return None
    mail.send(reminder_message(invoice, step, now))
    return step


def _claim(invoice_id: int, step: ReminderStep, now: datetime) -> bool:
    """Take the step's row; False if it, or a later step, is already taken."""
    later = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(InvoiceReminder)
        .where(InvoiceReminder.invoice_id == invoice_id, InvoiceReminder.step > int(step))
    )
    if later:
        return False
    claimed = db.session.execute(
        insert_or_skip(InvoiceReminder)
        .values(invoice_id=invoice_id, step=int(step), sent_at=now)
        .on_conflict_do_nothing(index_elements=["invoice_id", "step"])
        .returning(InvoiceReminder.step)
    ).scalar()
    return claimed is not None


def reminder_message(invoice: Invoice, step: ReminderStep, now: datetime) -> Message:
    days = (now - invoice.due_at) // timedelta(days=1)
    overdue = f"{days} day{'s' if days != 1 else ''} overdue"
    return emails.compose(
        "invoice_reminder",
        subject=f"Reminder: invoice {invoice.number} is {overdue}",
        to=[invoice.user.email],
        invoice=invoice,
        step=step,
        days=days,
        invoice_url=portal_url("invoices.detail", invoice_id=invoice.uuid),
    )
