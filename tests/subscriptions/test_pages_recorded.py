"""The pages' plan changes and paying a failed invoice again, against Stripe's recorded
answers (localstripe cannot change a subscription's item or pay an invoice again)."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.subscriptions import services
from portal.subscriptions.models import SubscriptionStatus
from tests.subscriptions.plans_support import make_plan
from tests.subscriptions.stripe_support import subscriptions

pytestmark = pytest.mark.stripe
SUB = "sub_1QbX7vKx3oV2nQeRsubscr01"
P4, P8 = "price_1QZr8mKx3oV2nQeR7monthly4", "price_1QZr9aKx3oV2nQeR8monthly8"
HTMX = {"HX-Request": "true", "HX-Target": "pay-status"}


@pytest.fixture
def four(stripe_replay):
    return make_plan("four-a-month", price=16000, lessons=4, provider_price_id=P4,
                     name="Four a month")  # fmt: skip


@pytest.fixture
def eight(stripe_replay):
    return make_plan("eight-a-month", price=30000, lessons=8, provider_price_id=P8,
                     name="Eight a month")  # fmt: skip


def _subscribed(replay, plan, student, fixture):
    replay.answer("POST", "/v1/subscriptions", fixture)
    services.create_subscription(student, plan)
    db.session.commit()


def test_an_upgrade_from_the_plans_page(
    login,
    stripe_replay,
    four,
    eight,
    card_holder,
):
    student = card_holder()
    _subscribed(stripe_replay, four, student, "subscription_active")
    browser = login(student)
    plans_page = browser.get("/plans").get_data(as_text=True)
    assert "Your plan" in plans_page and "Upgrade now" in plans_page
    stripe_replay.answer("GET", f"/v1/subscriptions/{SUB}", "subscription_active")
    stripe_replay.answer("POST", f"/v1/subscriptions/{SUB}", "subscription_upgraded")
    response = browser.post("/subscription/change", {"plan_id": str(eight.id)})
    assert response.status_code == 302
    [sub] = subscriptions()
    assert sub.plan_id == eight.id
    mine = browser.get("/subscription").get_data(as_text=True)
    assert "Your plan is now Eight a month." in mine and "8 of 8 lessons left" in mine


def test_a_downgrade_waits_and_the_page_says_when(
    login,
    stripe_replay,
    four,
    eight,
    card_holder,
):
    student = card_holder()
    _subscribed(stripe_replay, eight, student, "subscription_upgraded")
    browser = login(student)
    assert "Switch at renewal" in browser.get("/plans").get_data(as_text=True)
    stripe_replay.answer("GET", f"/v1/subscriptions/{SUB}", "subscription_upgraded")
    stripe_replay.answer("POST", f"/v1/subscriptions/{SUB}", "subscription_downgraded")
    response = browser.post("/subscription/change", {"plan_id": str(four.id)})
    assert response.status_code == 302
    [sub] = subscriptions()
    assert (sub.plan_id, sub.next_plan_id) == (eight.id, four.id)
    end = f"{sub.current_period_end:%d %B %Y}"
    mine = browser.get("/subscription").get_data(as_text=True)
    assert f"From {end} your plan is Four a month." in mine
    assert f"<strong>$160.00</strong> on {end} (Four a month from then on)" in mine
    assert f"Four a month starts on {end}." in mine


def test_a_past_due_subscription_is_paid_again_from_its_page(
    login,
    stripe_replay,
    four,
    card_holder,
    localstripe,
):
    student = card_holder()
    _subscribed(stripe_replay, four, student, "subscription_active")
    [sub] = subscriptions()
    sub.status, sub.open_provider_invoice_id = "past_due", "in_1QdB3cKx3oV2nQeRpastdue1"
    db.session.commit()
    stripe_replay.answer("POST", "/v1/invoices/in_1QdB3cKx3oV2nQeRpastdue1/pay",
                         "invoice_past_due_paid")  # fmt: skip
    stripe_replay.answer("GET", f"/v1/subscriptions/{SUB}", "subscription_active_renewed")
    browser = login(student)
    assert "Your last payment did not go through." in browser.get("/subscription").get_data(
        as_text=True
    )
    response = browser.post(
        "/subscription/pay",
        {"card": "new", "provider_method_id": localstripe.payment_method()},
        headers=HTMX,
    )
    assert response.headers.get("HX-Redirect") == "/subscription", response.get_data(as_text=True)
    [sent] = stripe_replay.seen("POST", "/v1/invoices/in_1QdB3cKx3oV2nQeRpastdue1/pay")
    assert sent.form["payment_method"].startswith("pm_")
    [sub] = subscriptions()
    assert sub.status == SubscriptionStatus.ACTIVE
    mine = browser.get("/subscription").get_data(as_text=True)
    assert "Paid. Your subscription is active again." in mine
    assert "did not go through" not in mine
