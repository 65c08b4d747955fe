"""Payment receipts through a real SMTP server (aiosmtpd), once per paid invoice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.extensions import db
from portal.invoices.documents import send_receipt
from portal.invoices.tasks import send_missing_receipts
from tests.invoices.conftest import invoice_of

pytestmark = pytest.mark.stripe


def test_a_paid_lesson_sends_one_receipt_with_links_to_the_invoice(
    app, paid_lesson, inbox, monkeypatch
):
    monkeypatch.setitem(app.config, "PORTAL_URL", "https://portal.m4sh.app")
    payment = paid_lesson()
    invoice = invoice_of(payment)
    [message] = inbox
    assert message["To"] == payment.payer.email
    assert message["Subject"] == f"Your receipt from M4SH: {invoice.number}"
    text = message.get_body(("plain",)).get_content()
    assert "we received your payment of $45.00" in text
    assert f"https://portal.m4sh.app/billing/invoices/{invoice.uuid}/pdf" in text
    html = message.get_body(("html",)).get_content()
    assert f'href="https://portal.m4sh.app/billing/invoices/{invoice.uuid}"' in html
    assert invoice.receipt_sent_at is not None
    # Asked again (a retried task), nothing more is sent.
    assert send_receipt(invoice.id) is False
    assert len(inbox) == 1


def test_no_card_details_or_secrets_in_the_receipt(paid_lesson, inbox, app):
    payment = paid_lesson()
    [message] = inbox
    raw = message.as_string()
    for secret in (app.config["STRIPE_SECRET_KEY"], payment.provider_payment_id):
        assert secret not in raw
    assert "4242 4242" not in raw and "4242424242424242" not in raw


def test_a_mail_server_that_is_down_leaves_the_receipt_to_send_later(
    app, paid_lesson, smtp_server, monkeypatch, caplog
):
    from portal.extensions import mail

    down = mail.init_mail(
        {**app.config, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": 9, "MAIL_SUPPRESS_SEND": False}
    )
    monkeypatch.setitem(app.extensions, "mail", down)
    payment = paid_lesson()  # the payment itself goes through
    invoice = invoice_of(payment)
    assert payment.status == "succeeded" and invoice.receipt_sent_at is None
    assert "not sent" in caplog.text
    # The mail server is back: the hourly sweep sends what is still unsent, once.
    invoice.paid_at -= timedelta(minutes=11)
    db.session.commit()
    smtp_server.handler.messages.clear()
    monkeypatch.setitem(
        app.extensions,
        "mail",
        mail.init_mail(
            {
                **app.config,
                "MAIL_SERVER": smtp_server.hostname,
                "MAIL_PORT": smtp_server.port,
                "MAIL_SUPPRESS_SEND": False,
            }
        ),
    )
    assert send_missing_receipts() == "receipts queued: 1"
    assert send_missing_receipts() == "receipts queued: 0"
    [message] = smtp_server.handler.messages
    assert message["To"] == payment.payer.email
    assert invoice_of(payment).receipt_sent_at is not None


def test_the_sweep_leaves_receipts_just_queued_alone(app, paid_lesson, monkeypatch):
    from portal.extensions import mail

    down = mail.init_mail(
        {**app.config, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": 9, "MAIL_SUPPRESS_SEND": False}
    )
    monkeypatch.setitem(app.extensions, "mail", down)
    paid_lesson()
    # Paid a moment ago: its own task may still be on its way.
    assert send_missing_receipts() == "receipts queued: 0"
