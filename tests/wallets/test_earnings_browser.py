"""The earnings dashboard in Chromium: empty, busy and in debt; htmx filters and settings."""

from datetime import timedelta

import pytest

from portal.db import utcnow
from portal.extensions import db
from portal.wallets.earnings import process_lesson_earning, release_pending_earnings
from portal.wallets.payout_funds import reserve_payout
from portal.wallets.refunds import process_refund_deduction
from portal.wallets.summary import get_wallet_summary
from tests.conftest import screenshot

pytestmark = pytest.mark.browser


def _earn(tutor, n, gross=4500):
    process_lesson_earning(
        tutor_id=tutor.id,
        gross=gross,
        fee=gross * 15 // 100,
        idempotency_key=f"payment:{n}",
        payment_id=n,
        memo="Lesson with Sam",
    )


def test_an_empty_wallet_explains_what_will_happen(page, sign_in, tutor):
    sign_in(page, tutor)
    page.get_by_role("link", name="Earnings").click()
    page.get_by_role("heading", name="No earnings yet").wait_for()
    assert page.get_by_text("7 days after the lesson is completed").is_visible()
    assert page.locator("svg").count() == 0
    screenshot(page, "tutor-earnings-empty")


def test_a_busy_wallet_filters_pages_and_saves_settings(page, sign_in, tutor):
    for n in range(30):
        _earn(tutor, n)
    release_pending_earnings(utcnow() + timedelta(days=8))
    _earn(tutor, 99, gross=6000)
    db.session.commit()
    sign_in(page, tutor)
    page.goto("/earnings")
    assert page.get_by_role("img", name="Net earnings per month, last 12 months").is_visible()
    assert page.locator(".wallet-cards").get_by_text("$1,147.50").is_visible()
    screenshot(page, "tutor-earnings-busy")

    page.get_by_label("Type").select_option("release")
    page.wait_for_url("**type=release**")
    assert page.locator("#statement tbody tr").count() == 25
    assert page.locator("#statement").get_by_text("Lesson earning").count() == 0
    page.get_by_role("link", name="Older →").click()
    page.wait_for_url("**before=**")
    assert page.locator("#statement tbody tr").count() == 5

    page.get_by_label("From", exact=True).fill("2026-05-02")
    page.get_by_label("To", exact=True).fill("2026-05-01")
    page.get_by_label("To", exact=True).dispatch_event("change")
    page.get_by_text("The start date is after the end date.").wait_for()

    page.get_by_label("Auto-payout threshold").fill("5")
    page.get_by_role("button", name="Save settings").click()
    # The field's help text also says "At least $10.00": wait for the error itself.
    page.locator("#payout_threshold-error", has_text="at least $10.00").wait_for()
    page.get_by_label("Auto-payout threshold").fill("75")
    page.get_by_label("Pay me out automatically").check()
    page.get_by_role("button", name="Save settings").click()
    page.get_by_text("Payout settings saved.").wait_for()
    db.session.expire_all()
    summary = get_wallet_summary(tutor.id)
    assert (summary.payout_threshold, summary.auto_payout_enabled) == (7500, True)


def test_a_wallet_in_debt_says_so(page, sign_in, tutor):
    _earn(tutor, 1)
    release_pending_earnings(utcnow() + timedelta(days=8))
    reserve_payout(tutor_id=tutor.id, amount=3825, idempotency_key="p", payout_id=1)
    process_refund_deduction(
        tutor_id=tutor.id, refund=4500, fee_part=675, idempotency_key="r", payment_id=1
    )
    db.session.commit()
    sign_in(page, tutor)
    page.goto("/earnings")
    assert page.get_by_role("alert").get_by_text("$38.25 in debt").is_visible()
    assert page.locator(".stat.debt").get_by_text("$38.25").is_visible()
    screenshot(page, "tutor-earnings-debt")
