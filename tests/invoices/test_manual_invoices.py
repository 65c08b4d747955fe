"""Manual invoices: an admin drafts, opens and e-mails one; the student pays it by card
against localstripe; the money is the platform's; paid and void are final."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.invoices.models import Invoice
from portal.ledger.accounts import account_balance, platform_account_ids
from portal.payments.models import Payment
from tests.support.ledger import assert_ledger_ok
from tests.support.localstripe import DECLINED, VISA

pytestmark = pytest.mark.stripe

ITEMS = [
    {"description": "Exam preparation pack", "quantity": 2, "unit_price": 2500},
    {"description": "Mock exam marking", "quantity": 1, "unit_price": 1999},
]


@pytest.fixture
def draft(client, admin, student, bearer):
    def _draft(items=ITEMS, discount=499):
        response = client.post(
            "/api/v1/admin/invoices/",
            json={"student_id": student.id, "items": items, "discount": discount},
            headers=bearer(admin),
        )
        assert response.status_code == 201, response.json
        return response.json

    return _draft


@pytest.fixture
def opened(client, admin, bearer, draft):
    def _opened(**kwargs):
        body = draft(**kwargs)
        response = client.post(
            f"/api/v1/admin/invoices/{body['id']}/finalize/", headers=bearer(admin)
        )
        assert response.status_code == 200, response.json
        return response.json

    return _opened


def test_an_admin_drafts_opens_and_mails_an_invoice(
    app, client, admin, student, bearer, draft, inbox, monkeypatch
):
    monkeypatch.setitem(app.config, "TAX_RATE_PERCENT", Decimal("20"))
    monkeypatch.setitem(app.config, "PORTAL_URL", "https://portal.m4sh.app")
    body = draft()
    assert (body["status"], body["kind"], body["number"]) == ("draft", "manual", None)
    assert (body["subtotal"], body["discount"], body["tax"], body["total"]) == (
        6999,
        499,
        1300,
        7800,
    )
    # The student does not see a draft.
    url = f"/api/v1/invoices/{body['id']}/"
    assert client.get(url, headers=bearer(student)).status_code == 404
    assert inbox == []

    opened = client.post(f"/api/v1/admin/invoices/{body['id']}/finalize/", headers=bearer(admin))
    assert opened.status_code == 200
    invoice = opened.json
    assert invoice["status"] == "open" and invoice["number"].startswith("INV-")
    assert (invoice["tax_rate"], invoice["tax"], invoice["total"]) == ("20.00", 1300, 7800)
    assert invoice["due_at"] and invoice["issued_at"] and invoice["payment_id"] is None
    assert client.get(url, headers=bearer(student)).json["number"] == invoice["number"]
    [mail] = inbox
    assert mail["To"] == student.email
    assert mail["Subject"] == f"Invoice {invoice['number']} from M4SH: $78.00"
    text = mail.get_body(("plain",)).get_content()
    assert f"https://portal.m4sh.app/billing/invoices/{invoice['id']}" in text
    assert "Exam preparation pack" in text and "$78.00" in text
    [pdf] = list(mail.iter_attachments())
    assert pdf.get_filename() == f"{invoice['number']}.pdf"
    # The attached PDF is the one stored: every download is the same bytes.
    download = client.get(f"/api/v1/invoices/{invoice['id']}/pdf/", headers=bearer(student))
    assert download.data == pdf.get_content()

    again = client.post(f"/api/v1/admin/invoices/{body['id']}/finalize/", headers=bearer(admin))
    assert again.status_code == 409 and again.json["error"]["code"] == "invalid_transition"
    assert len(inbox) == 1


def test_the_student_pays_an_open_invoice_by_card(
    app, client, student, admin, bearer, opened, localstripe, inbox
):
    invoice = opened()
    intent = client.post(f"/api/v1/invoices/{invoice['id']}/pay/", headers=bearer(student))
    assert intent.status_code == 201, intent.json
    step = intent.json
    assert (step["amount"], step["payment_type"], step["booking_id"]) == (6500, "invoice", None)
    assert (step["platform_fee"], step["net_amount"]) == (6500, 0)
    assert step["client_secret"] and step["provider_payment_id"].startswith("pi_")
    # Asked again: the same attempt.
    same = client.post(f"/api/v1/invoices/{invoice['id']}/pay/", headers=bearer(student))
    assert same.status_code == 200 and same.json["id"] == step["id"]

    confirmed = client.post(
        f"/api/v1/payments/{step['id']}/confirm/",
        json={"provider_method_id": localstripe.token(VISA)},
        headers=bearer(student),
    )
    assert confirmed.status_code == 200 and confirmed.json["status"] == "succeeded"
    paid = client.get(f"/api/v1/invoices/{invoice['id']}/", headers=bearer(student)).json
    assert paid["status"] == "paid" and paid["paid_at"] and paid["payment_id"] == step["id"]
    # All of it is platform revenue: provider cash up, invoice revenue up, no tutor.
    accounts = platform_account_ids()
    assert account_balance(accounts["provider_cash"]) == 6500
    assert account_balance(accounts["invoice_revenue"]) == -6500
    assert_ledger_ok()
    check = app.test_cli_runner().invoke(args=["ledger", "check"])
    assert check.exit_code == 0 and "Ledger OK" in check.output, check.output
    subjects = [m["Subject"] for m in inbox]
    assert subjects == [
        f"Invoice {invoice['number']} from M4SH: $65.00",
        f"Your receipt from M4SH: {invoice['number']}",
    ]

    # Paid is final.
    for url in (f"/api/v1/invoices/{invoice['id']}/pay/",):
        refused = client.post(url, headers=bearer(student))
        assert refused.status_code == 409 and refused.json["error"]["code"] == "already_paid"
    for action in ("finalize", "void"):
        refused = client.post(
            f"/api/v1/admin/invoices/{invoice['id']}/{action}/", headers=bearer(admin)
        )
        assert refused.status_code == 409


def test_a_refund_of_an_invoice_payment_credits_it_and_leaves_the_revenue(
    client, student, admin, bearer, opened, localstripe
):
    invoice = opened()
    step = client.post(f"/api/v1/invoices/{invoice['id']}/pay/", headers=bearer(student)).json
    client.post(
        f"/api/v1/payments/{step['id']}/confirm/",
        json={"provider_method_id": localstripe.token(VISA)},
        headers=bearer(student),
    )
    # Students refund lessons only; an admin refunds part of the invoice.
    assert (
        client.post(f"/api/v1/payments/{step['id']}/refund/", headers=bearer(student)).status_code
        == 409
    )
    refund = client.post(
        f"/api/v1/payments/{step['id']}/refund/",
        json={"amount": 1500, "reason": "pack returned"},
        headers=bearer(admin),
    )
    assert refund.status_code == 201, refund.json
    body = client.get(f"/api/v1/invoices/{invoice['id']}/", headers=bearer(student)).json
    [note] = body["credit_notes"]
    assert (note["amount"], note["reason"]) == (1500, "pack returned")
    assert body["credited"] == 1500
    accounts = platform_account_ids()
    assert account_balance(accounts["invoice_revenue"]) == -5000
    assert account_balance(accounts["provider_cash"]) == 5000
    assert_ledger_ok()


def test_a_declined_card_leaves_the_invoice_open_to_try_again(
    client, student, bearer, opened, localstripe
):
    invoice = opened()
    step = client.post(f"/api/v1/invoices/{invoice['id']}/pay/", headers=bearer(student)).json
    declined = client.post(
        f"/api/v1/payments/{step['id']}/confirm/",
        json={"provider_method_id": localstripe.token(DECLINED)},
        headers=bearer(student),
    )
    assert declined.json["status"] == "failed"
    assert (
        client.get(f"/api/v1/invoices/{invoice['id']}/", headers=bearer(student)).json["status"]
        == "open"
    )
    retry = client.post(f"/api/v1/invoices/{invoice['id']}/pay/", headers=bearer(student))
    assert retry.status_code == 201 and retry.json["id"] != step["id"]


def test_voiding_an_open_invoice_cancels_the_attempt_under_way(
    client, student, admin, bearer, opened, localstripe
):
    invoice = opened()
    step = client.post(f"/api/v1/invoices/{invoice['id']}/pay/", headers=bearer(student)).json
    voided = client.post(f"/api/v1/admin/invoices/{invoice['id']}/void/", headers=bearer(admin))
    assert voided.status_code == 200 and voided.json["status"] == "void"
    assert voided.json["voided_at"]
    payment = db.session.scalar(sa.select(Payment).where(Payment.uuid == uuid.UUID(step["id"])))
    assert payment.status == "cancelled"
    intent = localstripe.get(f"/v1/payment_intents/{step['provider_payment_id']}")
    assert intent["status"] == "canceled"
    # Void is final: no paying, no confirming, no second void.
    pay = client.post(f"/api/v1/invoices/{invoice['id']}/pay/", headers=bearer(student))
    assert pay.status_code == 409
    confirm = client.post(
        f"/api/v1/payments/{step['id']}/confirm/",
        json={"provider_method_id": localstripe.token(VISA)},
        headers=bearer(student),
    )
    assert confirm.status_code == 409
    again = client.post(f"/api/v1/admin/invoices/{invoice['id']}/void/", headers=bearer(admin))
    assert again.status_code == 409
    assert db.session.scalar(sa.select(Invoice.status)) == "void"
