"""The admin overview: money for a chosen period with a chart, the state of payouts and
webhooks now, and one search box for payments, payouts, invoices and users."""

import pytest

from portal.db import utcnow
from portal.extensions import db
from portal.invoices.models import Invoice
from portal.payments import refunds
from portal.payouts import requesting
from portal.webhooks.models import EventStatus, WebhookEvent
from tests.conftest import look
from tests.payouts.conftest import credit, with_bank

pytestmark = pytest.mark.stripe


@pytest.fixture
def money(admin, student, tutor, lesson, pay):
    payment = pay(student, lesson)
    refunds.process_refund(admin, payment.uuid, amount=1000, reason="Late start")
    with_bank(tutor)
    credit(tutor, 5000)
    requesting.request_payout(tutor, amount=2500, payout_method="bank_transfer")
    db.session.add(
        WebhookEvent(stripe_id="evt_broken", type="payment_intent.succeeded",
                     stripe_created=utcnow(), payload={}, status=EventStatus.FAILED)
    )  # fmt: skip
    db.session.commit()
    return payment


def test_money_at_a_glance(login, admin, money):
    html = login(admin).get("/admin/").text
    assert "Money, last 30 days" in html
    assert "$35.00" in html  # volume net of the refund
    assert "$5.25" in html  # fees: 6.75 less 1.50 returned
    assert "1 refund" in html
    assert "$25.00" in html and "1 pending or approved" in html  # payouts due
    assert 'Failed webhooks</p><p class="stat-value">1<' in html
    assert "<svg" in html and "Collected volume per day" in html
    year = login(admin).get("/admin/?period=12m").text
    assert "Collected volume per month" in year
    assert year.count('class="bar"') == 12
    assert login(admin).get("/admin/?period=forever").status_code == 400


@pytest.mark.parametrize("query_of", [
    lambda p: str(p.uuid), lambda p: p.provider_payment_id, lambda p: p.payer.email,
    lambda p: "45.00", lambda p: "4242",
])  # fmt: skip
def test_the_search_box_finds_the_payment(login, admin, money, query_of):
    html = login(admin).get("/admin/", query_string={"q": query_of(money)}).text
    assert f"/admin/payments/{money.uuid}" in html


def test_the_search_box_finds_payouts_invoices_and_users(login, admin, tutor, money):
    browser = login(admin)
    assert "to " + tutor.name in browser.get("/admin/?q=25.00").text
    invoice = db.session.query(Invoice).filter_by(payment_id=money.id).one()
    assert invoice.number in browser.get(f"/admin/?q={invoice.number}").text
    assert f"/admin/wallets/{tutor.id}" in browser.get(f"/admin/?q={tutor.email}").text
    assert "Nothing matches" in browser.get("/admin/?q=zzz-nothing").text


@pytest.mark.browser
def test_the_overview_in_the_browser(page, sign_in, admin, money):
    sign_in(page, admin)
    page.get_by_role("heading", name="Money, last 30 days").wait_for()
    look(page, "admin-overview-money")
    page.get_by_role("link", name="Last 12 months").click()
    page.get_by_role("heading", name="Money, last 12 months").wait_for()
    page.get_by_label("Find a payment, payout, invoice or user").fill("4242")
    page.get_by_role("button", name="Find").click()
    page.get_by_role("heading", name="Found for “4242”").wait_for()
    look(page, "admin-overview-search")
    page.get_by_role("link", name="$45.00 from").click()
    page.wait_for_url(f"**/admin/payments/{money.uuid}")
