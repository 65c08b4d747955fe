"""Overdue reminders: one e-mail at 1, 7 and 14 days past due, never twice for a step,
also when two runs of the task overlap (PostgreSQL, real threads)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.db import utcnow
from portal.extensions import db
from portal.invoices import services
from portal.invoices.models import Invoice, InvoiceReminder
from portal.invoices.reminders import send_reminder, step_reached
from portal.invoices.services import Line
from portal.invoices.tasks import send_overdue_invoice_reminders
from tests.factories import UserFactory
from tests.support.races import at_once


def overdue(student, days: float) -> Invoice:
    invoice = services.create_invoice(
        user_id=student.id, currency="usd", lines=[Line("Course book", 1, 3000)], kind="manual"
    )
    services.finalize_invoice(invoice)
    invoice.due_at = utcnow() - timedelta(days=days)
    db.session.commit()
    return invoice


def steps(invoice) -> list[int]:
    db.session.expire_all()
    return db.session.scalars(
        sa.select(InvoiceReminder.step)
        .where(InvoiceReminder.invoice_id == invoice.id)
        .order_by(InvoiceReminder.step)
    ).all()


def test_the_steps_reached():
    now = utcnow()
    assert [step_reached(now - timedelta(days=d), now) for d in (0.5, 1, 6.9, 7, 13, 14, 40)] == [
        None,
        1,
        1,
        7,
        7,
        14,
        14,
    ]


def test_one_mail_per_step_as_the_invoice_stays_unpaid(student, inbox):
    invoice = overdue(student, 0.5)
    assert send_overdue_invoice_reminders() == "reminders sent: 0"
    for days, expected in ((1.1, [1]), (3, [1]), (7.2, [1, 7]), (10, [1, 7]), (14.5, [1, 7, 14])):
        invoice.due_at = utcnow() - timedelta(days=days)
        db.session.commit()
        send_overdue_invoice_reminders()
        send_overdue_invoice_reminders()  # the same day again: nothing more
        assert steps(invoice) == expected
    assert len(inbox) == 3
    first = inbox[0]
    assert first["To"] == student.email
    assert first["Subject"] == f"Reminder: invoice {invoice.number} is 1 day overdue"
    assert f"/billing/invoices/{invoice.uuid}" in first.get_body(("plain",)).get_content()
    assert "last reminder" in inbox[2].get_body(("plain",)).get_content()
    invoice.due_at = utcnow() - timedelta(days=60)
    db.session.commit()
    assert send_overdue_invoice_reminders() == "reminders sent: 0"


def test_an_invoice_found_late_gets_only_its_latest_step(student, inbox):
    invoice = overdue(student, 8)
    assert send_overdue_invoice_reminders() == "reminders sent: 1"
    assert steps(invoice) == [7]
    # The earlier step is never sent after a later one.
    assert send_reminder(invoice.id, invoice.due_at + timedelta(days=1, hours=1)) is None
    db.session.commit()
    assert steps(invoice) == [7] and len(inbox) == 1


def test_paid_void_and_not_yet_due_invoices_are_left_alone(student, inbox):
    paid, void, due = overdue(student, 3), overdue(student, 3), overdue(student, -2)
    services.mark_paid(paid)
    services.void_invoice(void)
    db.session.commit()
    assert send_overdue_invoice_reminders() == "reminders sent: 0"
    assert inbox == [] and due.status == "open"


@pytest.mark.postgres
def test_overlapping_runs_send_each_step_once(postgres, app, inbox):
    students = [UserFactory(role="student") for _ in range(4)]
    invoices = [overdue(s, days) for s in students for days in (1.5, 8)]

    results = at_once([send_overdue_invoice_reminders] * 3, app=app)
    sent = sum(int(r.split(": ")[1]) for r in results)
    assert sent == len(invoices) == len(inbox)
    rows = db.session.execute(sa.select(InvoiceReminder.invoice_id, InvoiceReminder.step)).all()
    assert sorted(rows) == sorted((i.id, 1 if n % 2 == 0 else 7) for n, i in enumerate(invoices))
