"""The earnings dashboard as a tutor uses it: cards, chart, statement, CSV, settings."""

import csv
import io
from datetime import timedelta

import pytest

from bench.seed_wallet import seed_statement
from portal.db import utcnow
from portal.extensions import db
from portal.money import format_money
from portal.wallets.earnings import process_lesson_earning, release_pending_earnings
from portal.wallets.models import TutorWallet
from portal.wallets.movement import get_wallet
from portal.wallets.payout_funds import reserve_payout
from portal.wallets.refunds import process_refund_deduction
from portal.wallets.summary import get_wallet_summary
from tests.support.ledger import assert_ledger_ok


def earn(tutor, n, gross=4500):
    process_lesson_earning(
        tutor_id=tutor.id,
        gross=gross,
        fee=gross * 15 // 100,
        idempotency_key=f"payment:{n}:captured",
        payment_id=n,
    )


@pytest.fixture
def busy(tutor):
    for n in range(30):
        earn(tutor, n)
    release_pending_earnings(utcnow() + timedelta(days=8))
    earn(tutor, 99, gross=6000)
    reserve_payout(tutor_id=tutor.id, amount=5000, idempotency_key="p1", payout_id=1)
    db.session.commit()
    return tutor


def test_an_empty_wallet_shows_a_helpful_empty_state(login, tutor):
    page = login(tutor).get("/earnings")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "No earnings yet" in html and "15% platform fee" in html and "7 days" in html
    assert "Statement" not in html and "$0.00" not in html and "<svg" not in html
    assert "Payout settings" in html
    assert db.session.query(TutorWallet).count() == 0  # looking writes nothing


def test_a_busy_wallet_shows_cards_chart_table_and_statement(login, busy):
    html = login(busy).get("/earnings").get_data(as_text=True)
    summary = get_wallet_summary(busy.id)
    assert "Available" in html and format_money(summary.available) in html
    assert "Pending" in html and "$51.00" in html
    assert "On its way" in html and "$50.00" in html
    assert 'role="img"' in html and "Earnings by month" in html
    assert html.count('class="bar"') == 12
    assert "Older →" in html and "Debt" not in html


def test_a_wallet_in_debt_says_so(login, tutor):
    earn(tutor, 1)
    release_pending_earnings(utcnow() + timedelta(days=8))
    reserve_payout(tutor_id=tutor.id, amount=3825, idempotency_key="p", payout_id=1)
    process_refund_deduction(
        tutor_id=tutor.id, refund=4500, fee_part=675, idempotency_key="r", payment_id=1
    )
    db.session.commit()
    html = login(tutor).get("/earnings").get_data(as_text=True)
    assert "in debt" in html and "Debt" in html and "$38.25" in html
    assert "from available" in html


def test_statement_filters_and_pages_as_an_htmx_fragment(login, busy):
    browser = login(busy)
    headers = {"HX-Request": "true", "HX-Target": "statement"}
    response = browser.get("/earnings?type=release", headers=headers)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="statement"') and "<html" not in html
    assert html.count("<tr>") == 1 + 25  # header + a full page of releases
    assert "Lesson earning" not in html
    assert "HX-Request" in response.headers["Vary"]
    older = browser.get(
        "/earnings?type=release&before=" + html.split("before=")[1].split('"')[0], headers=headers
    ).get_data(as_text=True)
    assert older.count("<tr>") == 1 + 5 and "← Newer" in older


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("type=bonus", "Unknown transaction type"),
        ("from=2026-13-01", "Use a date like"),
        ("from=2026-05-02&to=2026-05-01", "after the end date"),
    ],
)
def test_bad_filters_get_a_clear_error(login, busy, query, message):
    response = login(busy).get(
        f"/earnings?{query}", headers={"HX-Request": "true", "HX-Target": "statement"}
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_csv_export_streams_the_whole_statement(login, busy):
    browser = login(busy)
    response = browser.get("/earnings/statement.csv")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:4] == ["date", "type", "description", "amount"]
    assert len(rows) == 1 + 30 + 30 + 1 + 1
    assert rows[1][1] == "payout" and rows[1][3] == "-50.00"
    filtered = browser.get("/earnings/statement.csv?type=payout").get_data(as_text=True)
    assert len(filtered.strip().splitlines()) == 2
    assert browser.get("/earnings/statement.csv?type=nope").status_code == 400


def test_payout_settings_form_with_htmx(login, tutor):
    browser = login(tutor)
    headers = {"HX-Request": "true", "HX-Target": "payout-settings"}
    saved = browser.post(
        "/earnings/settings",
        {"payout_threshold": "75.50", "auto_payout_enabled": "y"},
        headers=headers,
    )
    assert saved.status_code == 200 and "Payout settings saved" in saved.get_data(as_text=True)
    summary = get_wallet_summary(tutor.id)
    assert (summary.payout_threshold, summary.auto_payout_enabled) == (7550, True)

    low = browser.post("/earnings/settings", {"payout_threshold": "5"}, headers=headers)
    assert low.status_code == 422 and "at least $10.00" in low.get_data(as_text=True)
    bad = browser.post("/earnings/settings", {"payout_threshold": "ten"}, headers=headers)
    assert bad.status_code == 422 and "Enter an amount like" in bad.get_data(as_text=True)
    summary = get_wallet_summary(tutor.id)
    assert (summary.payout_threshold, summary.auto_payout_enabled) == (7550, True)


def test_payout_settings_without_javascript(login, tutor):
    browser = login(tutor)
    response = browser.post("/earnings/settings", {"payout_threshold": "20"})
    assert response.status_code == 302
    assert get_wallet_summary(tutor.id).payout_threshold == 2000
    response = browser.post("/earnings/settings", {"payout_threshold": "1"})
    assert response.status_code == 422 and "at least $10.00" in response.get_data(as_text=True)


def test_settings_need_the_csrf_token(login, tutor):
    browser = login(tutor)
    response = browser.client.post("/earnings/settings", data={"payout_threshold": "20"})
    assert response.status_code in (302, 400)
    assert get_wallet(tutor.id) is None


@pytest.mark.parametrize("role", ["student", "admin"])
def test_only_tutors_have_an_earnings_page(login, request, role):
    browser = login(request.getfixturevalue(role))
    assert browser.get("/earnings").status_code == 403
    assert browser.get("/earnings/statement.csv").status_code == 403


def test_the_dashboard_runs_the_same_queries_for_10_and_100000_lines(app, login, count_queries):
    from tests import factories

    counts = []
    for lines in (10, 100_000):
        tutor = factories.UserFactory(role="tutor")
        seed_statement(tutor.id, lines)
        # Each request in its own app context: the test's context would otherwise share
        # `g` (the signed-in user, the CSRF token) between requests and hide queries.
        with app.app_context():
            browser = login(tutor)
        with app.app_context():
            browser.get("/earnings")  # warm: templates compiled
        with app.app_context(), count_queries() as statements:
            response = browser.get("/earnings")
        assert response.status_code == 200
        assert ("Older →" in response.get_data(as_text=True)) == (lines > 25)
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
    # The session and user, the wallet, the chart's months, one statement page, the
    # monthly statements list, and one for the next pending earnings (the newest batch
    # holds them) when anything is pending: a handful, whatever the statement's length.
    assert counts[1] <= 8, counts
    assert_ledger_ok()
