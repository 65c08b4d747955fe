"""Layout at 1280 and 390 px: the payout queue's actions cell, filter labels in line,
space between tables and cards, tables as labelled cards on phones, chart labels big
enough to read, and a compact navigation."""

import pytest

from portal.extensions import db
from portal.payouts import requesting
from portal.wallets.earnings import process_lesson_earning
from tests.conftest import PHONE, look
from tests.payouts.conftest import credit, with_bank

pytestmark = pytest.mark.browser


@pytest.fixture
def queued(tutor):
    with_bank(tutor)
    credit(tutor, 8000)
    payout = requesting.request_payout(tutor, amount=3000, payout_method="bank_transfer")
    db.session.commit()
    return payout


def _box(locator):
    return locator.bounding_box()


def test_the_payout_queue_lays_out_at_both_widths(page, sign_in, admin, queued):
    sign_in(page, admin)
    page.goto("/admin/payouts")
    cell = page.locator(f"#payout-{queued.uuid} td.actions")
    assert cell.evaluate("e => getComputedStyle(e).display") == "table-cell"
    row = page.locator(f"#payout-{queued.uuid}")
    assert _box(cell)["x"] + _box(cell)["width"] <= _box(row)["x"] + _box(row)["width"] + 1
    labels = page.locator("form.filters label")
    tops = {round(_box(labels.nth(i))["y"]) for i in range(labels.count())}
    assert len(tops) == 1, tops
    look(page, "layout-admin-queue")

    page.set_viewport_size(PHONE)
    amount = page.locator(f"#payout-{queued.uuid} td").nth(3)
    assert amount.get_attribute("data-label") == "Amount"
    assert amount.evaluate("e => getComputedStyle(e, '::before').content") == '"Amount"'
    nav = page.get_by_role("navigation", name="Main")
    assert _box(nav)["height"] < 50  # one line, scrolling sideways
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_phone_tables_charts_and_cards(page, sign_in, admin, tutor):
    for n in range(3):
        process_lesson_earning(
            tutor_id=tutor.id, gross=4500, fee=675, idempotency_key=f"payment:{n}", payment_id=n
        )
    db.session.commit()
    sign_in(page, tutor)
    page.goto("/earnings")
    page.set_viewport_size(PHONE)
    label = page.locator(".chart svg text").first
    assert _box(label)["height"] >= 10, _box(label)
    look(page, "layout-tutor-earnings")
    page.context.clear_cookies()
    sign_in(page, admin)
    page.goto(f"/admin/wallets/{tutor.id}")
    table = page.locator(".statement .table")
    card = page.locator("section.card.narrow")
    assert _box(table)["y"] - (_box(card)["y"] + _box(card)["height"]) >= 16
    look(page, "layout-admin-wallet")
