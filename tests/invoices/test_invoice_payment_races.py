"""Paying an invoice under concurrency on PostgreSQL, with real threads and localstripe:
two tabs start one attempt; confirmations, a second tab and a void never deadlock and the
invoice is paid once."""

from __future__ import annotations

from functools import partial

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.invoices import services
from portal.invoices.models import Invoice
from portal.invoices.services import Line
from portal.ledger.models import LedgerEntry
from portal.payments import cards, customers
from portal.payments.invoice_payments import create_invoice_payment_intent
from portal.payments.models import Payment
from tests.support.ledger import assert_ledger_ok
from tests.support.races import at_once

pytestmark = [pytest.mark.postgres, pytest.mark.stripe]

RACERS = 4


def _open_invoice(student) -> Invoice:
    invoice = services.create_invoice(
        user_id=student.id, currency="usd", lines=[Line("Course book", 1, 3000)], kind="manual"
    )
    services.finalize_invoice(invoice)
    db.session.commit()
    return invoice


def _race(client, requests):
    return at_once(
        [
            partial(client.open, url, method=method, json=body, headers=headers)
            for method, url, body, headers in requests
        ]
    )


def test_two_tabs_start_one_attempt(app, postgres, bearer, student, localstripe):
    invoice = _open_invoice(student)
    customers.ensure_customer(student)
    db.session.commit()
    url = f"/api/v1/invoices/{invoice.uuid}/pay/"
    answers = _race(app.test_client(), [("POST", url, None, bearer(student))] * RACERS)
    assert sorted(a.status_code for a in answers) == [200] * (RACERS - 1) + [201]
    assert len({a.json["id"] for a in answers}) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 1


def test_confirmations_and_new_tabs_at_once_pay_the_invoice_once(
    app, postgres, bearer, student, localstripe
):
    invoice = _open_invoice(student)
    headers = bearer(student)
    card = cards.add_payment_method(student, localstripe.token())
    step = create_invoice_payment_intent(student, invoice.uuid)
    db.session.commit()
    confirm = f"/api/v1/payments/{step.payment.uuid}/confirm/"
    pay = f"/api/v1/invoices/{invoice.uuid}/pay/"
    requests = [("POST", confirm, {"payment_method_id": card.id}, headers)] * RACERS
    requests += [("POST", pay, None, headers)] * 2
    answers = _race(app.test_client(), requests)
    codes = [a.status_code for a in answers]
    assert codes[:RACERS] == [200] * RACERS and {a.json["status"] for a in answers[:RACERS]} == {
        "succeeded"
    }
    # A tab asking to pay after the success is told so; none failed otherwise.
    assert all(code in (200, 409) for code in codes[RACERS:]), codes
    db.session.expire_all()
    paid = db.session.get(Invoice, invoice.id)
    assert paid.status == "paid" and paid.payment_id == step.payment.id
    entries = db.session.scalars(
        sa.select(LedgerEntry).where(LedgerEntry.payment_id == step.payment.id)
    ).all()
    assert len(entries) == 1
    assert_ledger_ok()
