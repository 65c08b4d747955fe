"""The subscription pages in Chromium against localstripe's Stripe.js: a student subscribes
with the card form, books a covered lesson, cancels at period end and reactivates; every
page fits a phone's width and a desktop's."""

from __future__ import annotations

import pytest

from portal.bookings.models import Booking, BookingStatus
from portal.extensions import db
from portal.subscriptions.models import SubscriptionPeriod, SubscriptionStatus
from tests import factories
from tests.conftest import screenshot
from tests.subscriptions.plans_support import make_plan, make_subscription
from tests.subscriptions.stripe_support import subscriptions
from tests.support.localstripe import THREE_D_SECURE, VISA

pytestmark = [pytest.mark.browser, pytest.mark.stripe]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _fill_card(page, number: str) -> None:
    """Type a card into the card element (localstripe's Stripe.js draws plain inputs)."""
    card = page.locator("#card-element")
    card.locator("input[placeholder=number]").wait_for()
    for field, value in (("number", number), ("exp_month", "12"), ("exp_year", "34"),
                         ("cvc", "123"), ("postal_code", "10001")):  # fmt: skip
        card.locator(f"input[placeholder={field}]").fill(value)


def _fits(page) -> None:
    """Nothing makes the page scroll sideways."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"


def test_subscribe_book_a_covered_lesson_cancel_and_reactivate(
    page, sign_in, student, tutor, localstripe, stripe_plan
):
    plan = stripe_plan("lessons-4", price=16000, lessons=4)
    sign_in(page, student)
    page.get_by_role("link", name="Subscription").click()
    page.get_by_role("link", name="See the plans").click()
    page.wait_for_url("**/plans")
    assert page.get_by_text("$40.00 a lesson").is_visible()
    page.get_by_role("link", name=f"Choose {plan.name}").click()
    page.wait_for_url(f"**/plans/{plan.slug}/subscribe")
    _fill_card(page, VISA)
    page.get_by_role("button", name="Subscribe for $160.00 a month").click()
    page.wait_for_url("**/subscription")
    page.get_by_text(f"You are subscribed to {plan.name}.").wait_for()
    assert page.get_by_text("4 of 4 lessons left").is_visible()
    assert VISA not in page.content()
    [sub] = subscriptions()
    assert sub.status == SubscriptionStatus.ACTIVE

    # A covered lesson: the booking form offers the subscription.
    page.get_by_role("link", name="Book a lesson").click()
    page.wait_for_url("**/tutors")
    page.goto(f"/tutors/{tutor.id}/book")
    page.get_by_label("Date").fill(_in_days(3))
    page.get_by_label("Start time (UTC)").fill("15:00")
    covered = page.get_by_label("Use my subscription (4 lessons left)")
    covered.check()
    page.get_by_role("button", name="Book lesson").click()
    page.wait_for_url("**/lessons")
    db.session.expire_all()
    [booking] = db.session.query(Booking).all()
    assert booking.status == BookingStatus.SCHEDULED and booking.subscription_id == sub.id
    page.goto("/subscription")
    assert page.get_by_text("3 of 4 lessons left").is_visible()

    # Cancel at the period end: the page asks first.
    page.get_by_role("link", name="Cancel subscription").click()
    page.wait_for_url("**/subscription/cancel")
    screenshot(page, "subscription-cancel-ask")
    page.get_by_role("button", name="Yes, cancel my subscription").click()
    page.wait_for_url("**/subscription")
    page.get_by_text("Cancelled: your subscription ends on").wait_for()
    assert subscriptions()[0].cancel_at_period_end
    screenshot(page, "subscription-cancelling")
    page.get_by_role("button", name="Keep my subscription").click()
    page.get_by_text("renews as before").wait_for()
    [sub] = subscriptions()
    assert not sub.cancel_at_period_end and sub.status == SubscriptionStatus.ACTIVE
    assert localstripe.get(f"/v1/subscriptions/{sub.provider_subscription_id}")[
        "cancel_at_period_end"] is False  # fmt: skip


def _in_days(days: int) -> str:
    from datetime import timedelta

    from portal.db import utcnow

    return (utcnow() + timedelta(days=days)).date().isoformat()


def test_3d_secure_for_the_first_invoice_in_the_page(page, sign_in, student, stripe_plan):
    plan = stripe_plan("lessons-4", price=16000, lessons=4)
    sign_in(page, student)
    page.goto(f"/plans/{plan.slug}/subscribe")
    _fill_card(page, THREE_D_SECURE)
    page.get_by_role("button", name="Subscribe for $160.00 a month").click()
    page.get_by_role("button", name="Complete authentication").wait_for()
    screenshot(page, "subscription-3ds")
    page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url("**/subscription")
    page.get_by_text("Paid. You are subscribed").wait_for()
    assert subscriptions()[0].status == SubscriptionStatus.ACTIVE


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_every_page_fits_and_is_kept_as_a_screenshot(
    page, sign_in, student, admin, localstripe, viewport
):
    page.set_viewport_size(viewport)
    width = viewport["width"]
    tutor = factories.UserFactory(role="tutor", hourly_rate=4500)
    plan = make_plan("lessons-4", price=16000, lessons=4, trial_days=7, name="Four lessons")
    make_plan("lessons-8", price=30000, lessons=8, name="Eight lessons",
              features=["Any tutor", "Two lessons a week", "Cancel any time"])  # fmt: skip
    make_plan("old", active=False, name="Old plan")
    sign_in(page, student)
    for path, name in (("/subscription", "none"), ("/plans", "plans"),
                       (f"/plans/{plan.slug}/subscribe", "subscribe")):  # fmt: skip
        page.goto(path)
        if name == "subscribe":
            page.locator("#card-element input[placeholder=number]").wait_for()
        _fits(page)
        screenshot(page, f"subscription-{name}-{width}")
    sub = make_subscription(student, plan, lessons_used=1)
    db.session.add(SubscriptionPeriod(
        subscription_id=sub.id, starts_at=sub.current_period_start, ends_at=sub.current_period_end,
        amount_paid=16000, currency="usd", lessons_allowed=4, lessons_used=1,
    ))  # fmt: skip
    db.session.commit()
    subscribed_pages = (
        ("/subscription", "mine"),
        ("/subscription/cancel", "cancel"),
        ("/plans", "plans-subscribed"),
        (f"/tutors/{tutor.id}/book", "book"),
    )
    for path, name in subscribed_pages:
        page.goto(path)
        _fits(page)
        screenshot(page, f"subscription-{name}-{width}")
    sub.status = "past_due"
    sub.open_provider_invoice_id = "in_1"
    db.session.commit()
    page.goto("/subscription")
    page.locator("#card-element input[placeholder=number]").wait_for()
    _fits(page)
    screenshot(page, f"subscription-past-due-{width}")

    admin_page = page.context.browser.new_page(
        base_url=page.url.split("/subscription")[0], viewport=viewport
    )
    sign_in(admin_page, admin)
    other = factories.UserFactory(role="student")
    make_subscription(other, plan, "trialing")
    for path, name in (("/admin/plans", "admin-plans"),
                       ("/admin/subscriptions", "admin-subscriptions"),
                       (f"/admin/subscriptions/{sub.id}", "admin-detail")):  # fmt: skip
        admin_page.goto(path)
        _fits(admin_page)
        screenshot(admin_page, f"subscription-{name}-{width}")
    admin_page.close()


def test_an_upgrade_asks_before_it_charges(page, sign_in, student, localstripe):
    four = make_plan("lessons-4", price=16000, lessons=4, name="Four lessons")
    make_plan("lessons-8", price=30000, lessons=8, name="Eight lessons")
    make_subscription(student, four)
    sign_in(page, student)
    page.goto("/plans")
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Upgrade now").click()
    page.wait_for_timeout(300)
    assert asked and "charged to your card today" in asked[0]
    assert page.url.endswith("/plans")
    [sub] = subscriptions()
    assert sub.plan_id == four.id
