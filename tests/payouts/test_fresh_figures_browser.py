"""After an htmx action the figures around it are current: the tutor's balance cards after
cancelling a payout; the nav badge, the number waiting and the other rows' figures in the
admin queue."""

import re

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.payouts import requesting
from tests import factories
from tests.conftest import look
from tests.payouts.conftest import credit, with_bank

pytestmark = pytest.mark.browser


def _request(tutor, amount):
    payout = requesting.request_payout(tutor, amount=amount, payout_method="bank_transfer")
    db.session.commit()
    return payout


def test_cancelling_a_payout_updates_the_balance_cards(page, sign_in, bank_tutor):
    credit(bank_tutor, 8000)
    payout = _request(bank_tutor, 3000)
    sign_in(page, bank_tutor)
    page.goto("/payouts")
    cards = page.locator("#balances")
    expect(cards).to_contain_text("$50.00")  # available
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#payout-{payout.uuid}").get_by_role("button", name="Cancel").click()
    expect(page.locator(f"#payout-{payout.uuid}")).to_contain_text("cancelled")
    expect(cards.locator(".stat").first).to_contain_text("$80.00")
    expect(page.locator("#amount-help")).to_contain_text("Available now: $80.00")
    look(page, "tutor-payout-cancelled-fresh")


def test_queue_actions_refresh_the_badge_the_count_and_other_rows(page, sign_in, bank_tutor,
                                                                  admin):  # fmt: skip
    credit(bank_tutor, 8000)
    first, second = _request(bank_tutor, 3000), _request(bank_tutor, 2000)
    other = factories.UserFactory(role="tutor")
    with_bank(other)
    credit(other, 5000)
    _request(other, 1500)
    sign_in(page, admin)
    page.goto("/admin/payouts")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name=re.compile(r"^Payouts\s*3$"))).to_be_visible()
    expect(page.locator("#queue-waiting")).to_have_text("Oldest first. 3 waiting.")
    row, other_row = page.locator(f"#payout-{first.uuid}"), page.locator(f"#payout-{second.uuid}")
    expect(other_row).to_contain_text("$80.00")  # what the tutor is owed
    row.get_by_role("button", name="Approve").click()
    expect(nav.get_by_role("link", name=re.compile(r"^Payouts\s*2$"))).to_be_visible()
    expect(page.locator("#queue-waiting")).to_have_text("Oldest first. 2 waiting.")
    row.get_by_role("button", name="Start bank transfer").click()
    row.get_by_label("Bank reference").fill("SEPA-7")
    row.get_by_role("button", name="Complete").click()
    expect(row).to_contain_text("completed")
    expect(other_row).to_contain_text("$50.00")  # $30.00 of it has left
    look(page, "admin-queue-fresh")
