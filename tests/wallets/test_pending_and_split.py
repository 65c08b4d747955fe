"""Tutor earnings in detail: each pending earning with the day it becomes available, and
gross, fee and net per lesson on the statement and in the CSV."""

import csv
import io
from datetime import timedelta

import pytest

from portal.bookings.models import BookingStatus
from portal.db import utcnow
from portal.extensions import db
from portal.wallets.earnings import process_lesson_earning
from portal.wallets.pending import pending_earnings
from tests import factories
from tests.conftest import look


@pytest.fixture
def earning_lessons(tutor, student):
    done = factories.BookingFactory(
        tutor=tutor, student=student, status=BookingStatus.COMPLETED,
        starts_at=utcnow() - timedelta(days=2), completed_at=utcnow() - timedelta(days=2),
    )  # fmt: skip
    coming = factories.BookingFactory(tutor=tutor, student=student, status="scheduled",
                                      starts_at=utcnow() + timedelta(days=3))  # fmt: skip
    for n, lesson in enumerate((done, coming)):
        process_lesson_earning(tutor_id=tutor.id, gross=4500, fee=675, booking_id=lesson.id,
                               payment_id=n, idempotency_key=f"payment:{n}")  # fmt: skip
    db.session.commit()
    return done, coming


def test_each_pending_earning_has_its_release_day(tutor, earning_lessons):
    done, coming = earning_lessons
    first, second = pending_earnings(tutor.id)
    assert (first.lesson.id, first.amount, first.estimated) == (done.id, 3825, False)
    assert first.available_at == done.completed_at + timedelta(days=7)
    assert (second.lesson.id, second.estimated) == (coming.id, True)
    assert second.available_at == coming.ends_at + timedelta(days=7)


def test_the_page_and_the_csv_show_gross_fee_and_net(login, tutor, earning_lessons):
    browser = login(tutor)
    html = browser.get("/earnings").text
    assert "Pending earnings" in html
    assert f"{(earning_lessons[0].completed_at + timedelta(days=7)):%d %b %Y}" in html
    assert "$45.00 lesson − $6.75 fee = $38.25" in html
    rows = list(csv.DictReader(io.StringIO(browser.get("/earnings/statement.csv").text)))
    assert {(r["gross"], r["fee"], r["net"], r["amount"]) for r in rows} == {
        ("45.00", "6.75", "38.25", "38.25")
    }


@pytest.mark.browser
def test_pending_earnings_in_the_browser(page, sign_in, tutor, earning_lessons):
    sign_in(page, tutor)
    page.goto("/earnings")
    page.get_by_role("heading", name="Pending earnings").wait_for()
    assert page.get_by_text("(expected: 7 days after the lesson is completed)").is_visible()
    look(page, "tutor-pending-earnings")


def test_read_newest_first_up_to_the_pending_balance_the_list_is_the_same(
    tutor, monkeypatch, earning_lessons
):
    """Older earnings released long ago, one still pending among them: walking back a
    few at a time stops once the pending balance is accounted for, and finds them all."""
    from portal.wallets import pending as module
    from portal.wallets.earnings import release_pending_earnings
    from portal.wallets.movement import get_wallet

    old = utcnow() - timedelta(days=60)
    for n in range(7):
        lesson = factories.BookingFactory(tutor=tutor, status=BookingStatus.COMPLETED,
                                          starts_at=old, completed_at=old)  # fmt: skip
        process_lesson_earning(tutor_id=tutor.id, gross=1000 + n, fee=100, booking_id=lesson.id,
                               payment_id=100 + n, idempotency_key=f"old:{n}")  # fmt: skip
    db.session.commit()
    assert release_pending_earnings() == 7
    db.session.commit()
    monkeypatch.setattr(module, "BATCH", 2)
    balance = get_wallet(tutor.id).pending
    assert balance == 2 * 3825
    everything = pending_earnings(tutor.id)
    walked = pending_earnings(tutor.id, balance)
    assert [e.entry_id for e in walked] == [e.entry_id for e in everything]
    assert len(walked) == 2
