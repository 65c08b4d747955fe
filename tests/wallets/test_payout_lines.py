"""A payout is one debit on the statement and in its CSV; the money on its way is apart."""

import csv
import io
from datetime import timedelta

import pytest

from portal.db import utcnow
from portal.extensions import db
from portal.wallets.earnings import process_lesson_earning, release_pending_earnings
from portal.wallets.payout_funds import complete_payout_funds, reserve_payout
from tests.conftest import look


@pytest.fixture
def paid_out(tutor):
    """Two released earnings (76.50), a payout of 50.00 sent and one of 10.00 on its way."""
    for n in range(2):
        process_lesson_earning(
            tutor_id=tutor.id, gross=4500, fee=675, idempotency_key=f"payment:{n}", payment_id=n
        )
    release_pending_earnings(utcnow() + timedelta(days=8))
    reserve_payout(tutor_id=tutor.id, amount=5000, idempotency_key="p1", payout_id=1)
    complete_payout_funds(tutor_id=tutor.id, amount=5000, idempotency_key="p1:done", payout_id=1)
    reserve_payout(tutor_id=tutor.id, amount=1000, idempotency_key="p2", payout_id=2)
    db.session.commit()
    return tutor


def test_the_csv_debits_each_payout_once(login, paid_out):
    rows = list(csv.DictReader(io.StringIO(login(paid_out).get("/earnings/statement.csv").text)))
    payouts = [
        (r["type"], r["amount"], r["in_flight_change"]) for r in rows if "payout" in r["type"]
    ]
    assert payouts == [
        ("payout", "-10.00", "10.00"),
        ("payout_completed", "0.00", "-50.00"),
        ("payout", "-50.00", "50.00"),
    ]
    withdrawn = sum(float(r["amount"]) for r in rows if r["type"].startswith("payout"))
    assert withdrawn == -60.00


def test_the_page_shows_one_debit_and_the_money_on_its_way(login, paid_out):
    html = login(paid_out).get("/earnings").text
    assert html.count("-$50.00") == 1
    assert "$50.00 sent to your bank" in html
    assert "On its way after" in html


@pytest.mark.browser
def test_a_tutor_reads_a_sent_payout_once(page, sign_in, paid_out):
    sign_in(page, paid_out)
    page.goto("/earnings")
    statement = page.locator("#statement")
    assert statement.get_by_text("-$50.00", exact=True).count() == 1
    assert statement.get_by_text("$50.00 sent to your bank").is_visible()
    look(page, "tutor-statement-payouts")
