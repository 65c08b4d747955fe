"""A tutor withdraws everything in one click, sees what a payout pays out (which earnings)
and when it should arrive."""

from datetime import date, datetime, timedelta

import pytest

from portal.bookings.models import BookingStatus
from portal.db import utcnow
from portal.extensions import db
from portal.payouts import requesting
from portal.payouts.arrival import add_business_days, expected_arrival
from portal.payouts.models import PayoutRequest
from portal.wallets.adjustments import credit_wallet
from portal.wallets.breakdown import payout_sources
from portal.wallets.earnings import process_lesson_earning, release_pending_earnings
from portal.wallets.movement import get_wallet
from tests import factories
from tests.conftest import look
from tests.payouts.conftest import figures


@pytest.fixture
def earned(bank_tutor, student):
    """Two released lessons ($38.25 each), then an admin credit of $10.00."""
    for n in range(2):
        lesson = factories.BookingFactory(
            tutor=bank_tutor, student=student, status=BookingStatus.COMPLETED,
            starts_at=utcnow() - timedelta(days=10 - n), completed_at=utcnow() - timedelta(days=9),
        )  # fmt: skip
        process_lesson_earning(tutor_id=bank_tutor.id, gross=4500, fee=675, booking_id=lesson.id,
                               payment_id=n, idempotency_key=f"payment:{n}")  # fmt: skip
    release_pending_earnings()
    credit_wallet(tutor_id=bank_tutor.id, amount=1000, reason="Bonus", idempotency_key="bonus")
    db.session.commit()
    return bank_tutor


def test_a_payout_is_traced_to_its_earnings_first_in_first_out(earned):
    first = requesting.request_payout(earned, amount=5000, payout_method="bank_transfer")
    second = requesting.request_payout(earned, amount=3650, payout_method="bank_transfer")
    db.session.commit()
    sources = payout_sources(get_wallet(earned.id).id, {first.id, second.id})
    assert [(s.line.type, s.amount) for s in sources[first.id]] == [
        ("release", 3825), ("release", 1175)]  # fmt: skip
    assert [(s.line.type, s.amount) for s in sources[second.id]] == [
        ("release", 2650), ("credit", 1000)]  # fmt: skip


def test_expected_arrival_counts_business_days():
    assert add_business_days(date(2026, 12, 4), 3) == date(2026, 12, 9)  # Fri -> Wed
    payout = PayoutRequest(status="processing", payout_method="bank_transfer",
                           processed_at=datetime(2026, 12, 4, 10), created_at=utcnow())  # fmt: skip
    assert expected_arrival(payout) == date(2026, 12, 9)
    payout.status = "completed"
    assert expected_arrival(payout) is None


def test_withdraw_all_requests_the_whole_available_balance(login, earned):
    browser = login(earned)
    page = browser.get("/payouts").text
    assert "Withdraw all $86.50" in page
    response = browser.post("/payouts", {"withdraw_all": "1", "payout_method": "bank_transfer"})
    assert response.status_code == 302
    assert figures(earned.id)["available"] == 0 and figures(earned.id)["in_flight"] == 8650
    html = browser.get("/payouts").text
    assert "What it pays out" in html and "Expected by" in html
    assert "Withdraw all" not in html  # nothing left to withdraw


@pytest.mark.browser
def test_withdraw_all_in_the_browser(page, sign_in, earned, student):
    sign_in(page, earned)
    page.goto("/payouts")
    page.get_by_role("button", name="Withdraw all $86.50").click()
    page.get_by_text("Payout of $86.50 requested").wait_for()
    page.get_by_text("What it pays out").click()
    assert page.get_by_text(f"$38.25: lesson with {student.name}").first.is_visible()
    assert page.get_by_text("$10.00: Credit from M4SH (Bonus)").is_visible()
    assert page.get_by_text("Expected by").is_visible()
    look(page, "tutor-withdraw-all")
