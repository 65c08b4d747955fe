"""Demo invoices: two open manual invoices for the demo student, one of them overdue, so
the pay button, the overdue sections and the reminders have something to show. Idempotent."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from portal.accounts.models import User
from portal.db import utcnow
from portal.extensions import db
from portal.invoices import services
from portal.invoices.models import Invoice, InvoiceKind
from portal.invoices.services import Line


def load_invoice_demo(student: User) -> None:
    has_manual = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Invoice)
        .where(Invoice.user_id == student.id, Invoice.kind == InvoiceKind.MANUAL)
    )
    if has_manual:
        return
    for lines, discount, overdue_days in (
        ([Line("Exam preparation pack", 2, 2500), Line("Mock exam marking", 1, 1999)], 499, 8),
        ([Line("Course workbook", 1, 1800)], 0, None),
    ):
        invoice = services.create_invoice(
            user_id=student.id,
            currency=current_app.config["PLATFORM_CURRENCY"],
            lines=lines,
            discount=discount,
            kind=InvoiceKind.MANUAL,
        )
        services.finalize_invoice(invoice)
        if overdue_days:
            invoice.due_at = utcnow() - timedelta(days=overdue_days)
    db.session.flush()
