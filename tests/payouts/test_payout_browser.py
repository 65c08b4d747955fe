"""The payout pages in Chromium: the withdrawal story, the fail dialog, bulk approve."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.payouts import requesting
from portal.payouts.models import PayoutRequest
from tests import factories
from tests.conftest import screenshot
from tests.payouts.conftest import credit, earn, figures, with_bank

pytestmark = pytest.mark.browser


@pytest.fixture
def second_page(page, live_server):
    """Another person's browser on the same portal."""
    context = page.context.browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    other = context.new_page()
    other.set_default_timeout(10_000)
    yield other
    context.close()


def test_tutor_withdraws_and_an_admin_pays_by_bank(page, second_page, sign_in, bank_tutor, admin):
    earn(bank_tutor, lessons=2)  # $76.50 available
    sign_in(page, bank_tutor)
    page.get_by_role("link", name="Payouts").click()
    page.wait_for_url("**/payouts")
    expect(page.get_by_text("Available now: $76.50")).to_be_visible()
    page.get_by_label("Amount").fill("80")
    expect(page.locator("#request-feedback")).to_have_text(
        "You can pay out at most $76.50, your available balance."
    )
    page.get_by_label("Amount").fill("60")
    expect(page.locator("#request-feedback")).to_have_text("Fine: $16.50 stays available.")
    screenshot(page, "payouts-tutor-request")
    page.get_by_role("button", name="Request payout").click()
    expect(page.get_by_text("Payout of $60.00 requested")).to_be_visible()
    expect(page.locator("table.payouts").get_by_text("pending", exact=True)).to_be_visible()
    screenshot(page, "payouts-tutor-list")
    (payout,) = db.session.query(PayoutRequest).all()
    row_id = f"#payout-{payout.uuid}"

    boss = second_page
    sign_in(boss, admin)
    expect(boss.get_by_role("link", name=re.compile(r"^Payouts\s*1$"))).to_be_visible()
    boss.get_by_role("navigation", name="Main").get_by_role(
        "link", name=re.compile("^Payouts")
    ).click()
    boss.wait_for_url("**/admin/payouts")
    row = boss.locator(row_id)
    expect(row.get_by_text(bank_tutor.name)).to_be_visible()
    expect(row.get_by_text("$76.50", exact=False)).to_be_visible()  # what the tutor is owed
    screenshot(boss, "payouts-admin-queue")
    row.get_by_role("button", name="Approve").click()
    expect(row.get_by_role("button", name="Start bank transfer")).to_be_visible()
    tabs = boss.locator("#queue-tabs")
    expect(tabs.get_by_role("link", name="Approved 1")).to_be_visible()
    expect(tabs.get_by_role("link", name="Pending 0")).to_be_visible()
    row.get_by_role("button", name="Start bank transfer").click()
    row.get_by_label("Bank reference").fill("SEPA-2026-0042")
    screenshot(boss, "payouts-admin-processing")
    row.get_by_role("button", name="Complete").click()
    expect(row.get_by_text("Ref. SEPA-2026-0042")).to_be_visible()
    expect(row.get_by_text("completed", exact=True)).to_be_visible()
    screenshot(boss, "payouts-admin-completed")
    assert figures(bank_tutor.id) == {"available": 1650, "in_flight": 0, "withdrawn": 6000}

    page.reload()
    expect(page.get_by_text("Bank reference: SEPA-2026-0042")).to_be_visible()
    expect(page.locator(row_id).locator(".timeline li.done")).to_have_count(4)
    screenshot(page, "payouts-tutor-completed")
    boss.get_by_role("link", name="Audit log", exact=True).click()
    expect(boss.get_by_text("payout.completed")).to_be_visible()
    screenshot(boss, "audit-log")


def test_admin_fails_a_payout_in_a_dialog(page, sign_in, bank_tutor, admin):
    credit(bank_tutor, 5000)
    payout = requesting.request_payout(bank_tutor, amount=3000, payout_method="bank_transfer")
    db.session.commit()
    sign_in(page, admin)
    page.goto("/admin/payouts")
    row = page.locator(f"#payout-{payout.uuid}")
    row.get_by_role("link", name="Fail…").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Fail payout").click()
    expect(dialog.get_by_text("Give a reason the tutor will read.").first).to_be_visible()
    screenshot(page, "payouts-admin-fail-dialog")
    page.locator("dialog[open]").get_by_label("Reason").fill(
        "The account holder's name does not match."
    )
    page.locator("dialog[open]").get_by_role("button", name="Fail payout").click()
    expect(row.get_by_text("failed", exact=True)).to_be_visible()
    expect(page.locator("dialog[open]")).to_have_count(0)
    expect(page.locator("#queue-tabs").get_by_role("link", name="Failed 1")).to_be_visible()
    assert figures(bank_tutor.id)["available"] == 5000


def test_admin_bulk_approves_the_selected(page, sign_in, admin):
    for _ in range(3):
        tutor = factories.UserFactory(role="tutor")
        with_bank(tutor)
        credit(tutor, 5000)
        requesting.request_payout(tutor, amount=2000, payout_method="bank_transfer")
    db.session.commit()
    sign_in(page, admin)
    page.goto("/admin/payouts")
    page.get_by_label("Select every payout on this page").check()
    page.get_by_role("button", name="Approve selected").click()
    expect(page.get_by_text("Approved 3 payouts.")).to_be_visible()
    expect(page.locator("#queue-tabs").get_by_role("link", name="Approved 3")).to_be_visible()
    screenshot(page, "payouts-admin-bulk-approved")
    db.session.expire_all()
    assert {p.status for p in db.session.query(PayoutRequest)} == {"approved"}


def test_tutor_settings_page(page, sign_in, tutor):
    sign_in(page, tutor)
    page.goto("/payouts/settings")
    expect(page.get_by_label("Routing number (ABA)")).to_be_hidden()
    page.get_by_label("US account and routing number").check()
    expect(page.get_by_label("Routing number (ABA)")).to_be_visible()
    page.get_by_role("radio", name="IBAN").check()
    page.get_by_label("Account holder").fill("Tomás Tutor")
    page.get_by_label("Bank name").fill("Commerzbank")
    page.get_by_label("Bank country").select_option("DE")
    page.get_by_role("textbox", name="IBAN").fill("DE89 3704 0044 0532 0130 01")
    page.get_by_role("button", name="Save bank details").click()
    expect(page.get_by_text("check digits do not match")).to_be_visible()
    screenshot(page, "payouts-settings-error")
    page.get_by_role("textbox", name="IBAN").fill("DE89 3704 0044 0532 0130 00")
    page.get_by_role("button", name="Save bank details").click()
    expect(page.get_by_text("On file: IBAN •••• 3000")).to_be_visible()
    screenshot(page, "payouts-settings")
    assert "DE89370400440532013000" not in page.content()
