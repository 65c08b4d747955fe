"""Tutors' monthly statements: figures from the ledger, one PDF per month issued once,
listed on the earnings page and downloadable by their tutor only."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.ledger.models import LedgerEntry, LedgerPosting
from portal.wallets import tasks
from portal.wallets.adjustments import credit_wallet, debit_wallet
from portal.wallets.earnings import process_lesson_earning, release_pending_earnings
from portal.wallets.models import TutorStatement, TutorWallet
from portal.wallets.monthly_statements import issue_statement, month_figures
from portal.wallets.payout_funds import (
    complete_payout_funds,
    release_payout_reservation,
    reserve_payout,
)
from portal.wallets.refunds import process_refund_deduction
from portal.wallets.summary import get_wallet_summary
from tests.factories import UserFactory
from tests.support.ledger import assert_ledger_ok

NOVEMBER = date(2026, 11, 1)


class Clock:
    """The time the ledger and the wallets write, moved by the test."""

    def __init__(self, monkeypatch):
        self.now = datetime(2026, 10, 1, tzinfo=UTC)
        for module in ("portal.ledger.posting", "portal.wallets.movement", "portal.wallets.tasks"):
            monkeypatch.setattr(f"{module}.utcnow", lambda: self.now)

    def at(self, month: int, day: int) -> Clock:
        self.now = datetime(2026, month, day, 12, 0, tzinfo=UTC)
        return self


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def _earn(tutor, key, gross, fee, payment_id=None):
    process_lesson_earning(
        tutor_id=tutor.id, gross=gross, fee=fee, idempotency_key=key, payment_id=payment_id
    )


@pytest.fixture
def busy_autumn(tutor, clock):
    """October: two lessons and a credit. November: everything a month can hold.
    December 1st: one more lesson, which November's statement must not count."""
    t = tutor.id
    clock.at(10, 5)
    _earn(tutor, "oct-1", 4500, 675)
    clock.at(10, 20)
    _earn(tutor, "oct-2", 4500, 675)
    clock.at(10, 28)
    credit_wallet(tutor_id=t, amount=1000, reason="Welcome bonus", idempotency_key="credit-1")
    clock.at(11, 2)
    release_pending_earnings(clock.now)  # both October lessons: 7,650 to available
    clock.at(11, 5)
    _earn(tutor, "nov-1", 6000, 900, payment_id=3)
    clock.at(11, 8)
    process_refund_deduction(
        tutor_id=t, refund=2000, fee_part=300, idempotency_key="refund-1", payment_id=3
    )
    clock.at(11, 10)
    reserve_payout(tutor_id=t, amount=5000, idempotency_key="payout-1", payout_id=1)
    clock.at(11, 12)
    complete_payout_funds(tutor_id=t, amount=5000, idempotency_key="payout-1-done", payout_id=1)
    clock.at(11, 15)
    reserve_payout(tutor_id=t, amount=1000, idempotency_key="payout-2", payout_id=2)
    clock.at(11, 16)
    release_payout_reservation(
        tutor_id=t, amount=1000, idempotency_key="payout-2-back", payout_id=2
    )
    clock.at(11, 20)
    debit_wallet(tutor_id=t, amount=500, reason="Chargeback fee", idempotency_key="debit-1")
    clock.at(12, 1)
    _earn(tutor, "dec-1", 4500, 675)
    db.session.commit()
    return tutor


def _ledger_total(tutor_id: int, before: datetime) -> int:
    """What the platform owed the tutor at `before`, straight from the postings."""
    wallet = db.session.scalar(sa.select(TutorWallet).where(TutorWallet.tutor_id == tutor_id))
    accounts = list(wallet.account_ids().values())
    return -db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LedgerPosting.amount), 0))
        .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
        .where(LedgerPosting.account_id.in_(accounts), LedgerEntry.created_at < before)
    )


def test_the_months_figures_come_from_the_ledger_and_add_up(app, busy_autumn):
    tutor = busy_autumn
    wallet = db.session.scalar(sa.select(TutorWallet).where(TutorWallet.tutor_id == tutor.id))
    figures = month_figures(wallet, NOVEMBER)

    assert (figures.opening.pending, figures.opening.available, figures.opening.in_flight) == (
        7650,
        1000,
        0,
    )
    assert figures.earnings == 5100 and figures.fees == 900
    assert (figures.refunds, figures.adjustments, figures.payouts) == (-1700, -500, -5000)
    assert (figures.closing.pending, figures.closing.available, figures.closing.in_flight) == (
        3400,
        3150,
        0,
    )
    # 2 releases, a lesson, a refund, two payouts asked for, one sent, one back, a debit.
    assert figures.line_count == 9
    # Against the postings themselves, and the books' own check.
    assert figures.opening.total == _ledger_total(tutor.id, datetime(2026, 11, 1, tzinfo=UTC))
    assert figures.closing.total == _ledger_total(tutor.id, datetime(2026, 12, 1, tzinfo=UTC))
    moved = figures.earnings + figures.refunds + figures.adjustments + figures.payouts
    assert figures.opening.total + moved == figures.closing.total
    # December's lesson is the only thing between November's close and the wallet now.
    summary = get_wallet_summary(tutor.id)
    assert summary.owed == figures.closing.total + 3825
    assert_ledger_ok()
    assert app.test_cli_runner().invoke(args=["ledger", "check"]).exit_code == 0


def test_the_first_of_the_month_issues_last_months_statement_once(app, busy_autumn, clock):
    idle = UserFactory(role="tutor", hourly_rate=4000)  # a wallet with nothing in it
    from portal.wallets.movement import get_or_create_wallet

    clock.at(10, 1)
    get_or_create_wallet(idle.id)
    db.session.commit()

    clock.at(12, 1)
    assert tasks.issue_tutor_statements.run() == (
        "statements of 2026-11 issued: 1; not issued (ledger drift): 0"
    )
    statement = db.session.scalars(sa.select(TutorStatement)).one()
    assert (statement.tutor_id, statement.month) == (busy_autumn.id, NOVEMBER)
    assert (statement.opening, statement.closing) == (8650, 6550)
    assert (statement.earnings, statement.fees, statement.refunds) == (5100, 900, -1700)
    assert (statement.adjustments, statement.payouts, statement.line_count) == (-500, -5000, 9)
    pdf = statement.pdf
    assert pdf.startswith(b"%PDF-")

    # Again (a retried task, a second beat): nothing new, the stored PDF stays.
    assert tasks.issue_tutor_statements.run().startswith("statements of 2026-11 issued: 0;")
    wallet_id = statement.wallet_id
    assert issue_statement(wallet_id, NOVEMBER) is None
    db.session.expire_all()
    assert db.session.scalars(sa.select(TutorStatement)).one().pdf == pdf


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler's pdftotext")
def test_the_pdf_prints_the_figures_and_every_line(app, busy_autumn, clock, tmp_path):
    clock.at(12, 1)
    tasks.issue_tutor_statements.run()
    path = tmp_path / "statement.pdf"
    path.write_bytes(db.session.scalars(sa.select(TutorStatement)).one().pdf)
    _keep_pdf_for_looking(path.read_bytes())
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Earnings statement" in text and "November 2026" in text
    assert busy_autumn.name in text and busy_autumn.email in text
    for label, figure in (
        ("Opening balance", "$86.50"),
        ("Earnings (your share)", "$51.00"),
        ("Platform fees kept on these lessons", "$9.00"),
        ("Refunds", "-$17.00"),
        ("Adjustments by M4SH", "-$5.00"),
        ("Payouts sent", "-$50.00"),
        ("Closing balance", "$65.50"),
    ):
        assert any(label in line and figure in line for line in text.splitlines()), label
    for label in (
        "Earning released",
        "Lesson earning",
        "Refund",
        "Payout requested",
        "Payout sent",
        "Payout returned",
        "Debit by M4SH",
    ):
        assert label in text
    assert "statement lines (9)" in text.lower()
    assert "Welcome bonus" not in text  # October's credit is in the opening balance


def test_the_tutor_sees_and_downloads_their_statements_nobody_else(
    app, busy_autumn, clock, login, student, admin
):
    clock.at(12, 1)
    tasks.issue_tutor_statements.run()
    statement = db.session.scalars(sa.select(TutorStatement)).one()
    url = f"/earnings/statements/{statement.id}.pdf"

    browser = login(busy_autumn)
    page = browser.get("/earnings").get_data(as_text=True)
    assert "Monthly statements" in page and "November 2026" in page and url in page
    download = browser.get(url)
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    assert "filename=m4sh-statement-2026-11.pdf" in download.headers["Content-Disposition"]
    assert download.get_data() == statement.pdf == browser.get(url).get_data()

    other = UserFactory(role="tutor", hourly_rate=4000)
    assert login(other).get(url).status_code == 404
    assert "Monthly statements" not in login(other).get("/earnings").get_data(as_text=True)
    assert login(busy_autumn).get("/earnings/statements/999999.pdf").status_code == 404
    for user in (student, admin):
        assert login(user).get(url).status_code == 403


def _keep_pdf_for_looking(pdf):  # pragma: no cover - a developer's aid, not a test
    import os

    target = os.environ.get("KEEP_STATEMENT_PDF")
    if target:
        with open(target, "wb") as out:
            out.write(pdf)


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_a_tutor_downloads_last_months_statement_in_chromium(
    busy_autumn, clock, chromium, live_server, sign_in, width
):
    from tests.conftest import screenshot

    clock.at(12, 1)
    tasks.issue_tutor_statements.run()
    statement = db.session.scalars(sa.select(TutorStatement)).one()
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": width, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    sign_in(page, busy_autumn)
    page.goto("/earnings")
    section = page.get_by_role("region", name="Monthly statements")
    section.get_by_role("rowheader", name="November 2026").wait_for()
    section.scroll_into_view_if_needed()
    screenshot(page, f"earnings-monthly-statements-{width}")
    with page.expect_download() as download:
        section.get_by_role("link", name="PDF , November 2026").click()
    assert download.value.suggested_filename == "m4sh-statement-2026-11.pdf"
    with open(download.value.path(), "rb") as pdf:
        assert pdf.read() == statement.pdf
    context.close()


@pytest.mark.postgres
def test_two_runs_at_once_store_one_statement(postgres, app, busy_autumn):
    from tests.support.races import at_once

    wallet_id = db.session.scalar(
        sa.select(TutorWallet.id).where(TutorWallet.tutor_id == busy_autumn.id)
    )

    def run():
        statement = issue_statement(wallet_id, NOVEMBER)
        db.session.commit()
        return statement and statement.id

    results = at_once([run, run, run], app=app)
    db.session.rollback()
    [stored] = db.session.scalars(sa.select(TutorStatement)).all()
    # Whoever stored it returns it; the others find it there and issue nothing.
    assert sorted(results, key=bool) == [None, None, stored.id]
