"""The invoice tasks on a real Celery worker (Redis): the daily reminders and an opened
invoice's e-mail, sent by the worker through the SMTP server (aiosmtpd), each once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.db import utcnow
from portal.extensions import db
from portal.invoices import services
from portal.invoices.models import Invoice, InvoiceReminder
from portal.invoices.services import Line
from tests.support.workers import celery_worker, redis_url

pytestmark = pytest.mark.redis


@pytest.fixture
def worker(app, smtp_server):
    url = redis_url()
    config = {
        "CELERY_BROKER_URL": url,
        "CELERY_RESULT_BACKEND": url,
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "test-secret",
        "MAIL_SERVER": smtp_server.hostname,
        "MAIL_PORT": smtp_server.port,
        "MAIL_SUPPRESS_SEND": "0",
    }
    smtp_server.handler.messages.clear()
    with celery_worker(app, config) as client_app:
        yield client_app.extensions["celery"]


def test_the_worker_sends_the_invoice_and_its_reminder_once(worker, student, smtp_server):
    invoice = services.create_invoice(
        user_id=student.id, currency="usd", lines=[Line("Course book", 1, 3000)], kind="manual"
    )
    services.finalize_invoice(invoice)
    invoice.due_at = utcnow() - timedelta(days=2)
    db.session.commit()

    # The mail task keeps no result: the reminders' run, queued after it on the same
    # worker, ends after it.
    worker.send_task("send_invoice_mail", args=[invoice.id])
    worker.send_task("send_invoice_mail", args=[invoice.id])
    for _ in range(2):
        worker.send_task("send_overdue_invoice_reminders").get(timeout=60)
    subjects = [m["Subject"] for m in smtp_server.handler.messages]
    assert subjects == [
        f"Invoice {invoice.number} from M4SH: $30.00",
        f"Reminder: invoice {invoice.number} is 2 days overdue",
    ]
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).sent_at is not None
    assert db.session.scalars(sa.select(InvoiceReminder.step)).all() == [1]
