"""The student's pages: plans, subscribing (saved card, new card, 3-D Secure, declines),
my subscription (quota, next payment, cancel after asking, reactivate, change, pay again)."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.subscriptions.models import SubscriptionStatus
from tests import factories
from tests.subscriptions.plans_support import make_plan, make_subscription
from tests.subscriptions.stripe_support import stripe_subscriptions, subscriptions
from tests.support.localstripe import DECLINED, DECLINED_AT_CHARGE, THREE_D_SECURE

HTMX = {"HX-Request": "true", "HX-Target": "pay-status"}


@pytest.mark.parametrize("role", ["tutor", "admin"])
def test_student_pages_are_for_students(login, role):
    plan = make_plan()
    browser = login(factories.UserFactory(role=role))
    for path in ("/plans", f"/plans/{plan.slug}/subscribe", "/subscription",
                 "/subscription/cancel"):  # fmt: skip
        assert browser.get(path).status_code == 403, path
    for path in (f"/plans/{plan.slug}/subscribe", f"/plans/{plan.slug}/checkout",
                 "/subscription/cancel", "/subscription/reactivate", "/subscription/change",
                 "/subscription/pay"):  # fmt: skip
        assert browser.post(path, {"plan_id": str(plan.id)}).status_code == 403, path
    assert subscriptions() == []


def test_the_plans_page_compares_a_plan_lesson_with_a_single_one(login, student):
    factories.UserFactory(role="tutor", hourly_rate=4500)
    factories.UserFactory(role="tutor", hourly_rate=6000)
    make_plan("lessons-4", price=16000, lessons=4, trial_days=7, name="Four lessons")
    make_plan("lessons-8", price=30000, lessons=8, name="Eight lessons")
    make_plan("old", active=False, name="Old plan")
    page = login(student).get("/plans").get_data(as_text=True)
    assert "Four lessons" in page and "Eight lessons" in page and "Old plan" not in page
    assert "$40.00 a lesson" in page and "$37.50 a lesson" in page
    assert "an hour's lesson costs $45.00 to $60.00" in page
    assert "You save at least $5.00 a lesson." in page
    assert "7 days free" in page and "Free for 7 days, then $160.00 a month" in page
    assert 'href="/plans/lessons-4/subscribe"' in page


def test_the_plans_page_without_plans_points_to_single_lessons(login, student):
    page = login(student).get("/plans").get_data(as_text=True)
    assert "No plans are on offer right now." in page


def test_no_subscription_yet(login, student):
    make_plan()
    page = login(student).get("/subscription").get_data(as_text=True)
    assert "You have no subscription." in page and "from $200.00 a month" in page


def test_unknown_and_archived_plans_cannot_be_taken(login, student):
    make_plan("old", active=False)
    browser = login(student)
    assert browser.get("/plans/nope/subscribe").status_code == 404
    assert browser.post("/plans/nope/subscribe", {"card": "new"}).status_code == 404
    archived = browser.get("/plans/old/subscribe")
    assert archived.status_code == 409 and "no longer offered" in archived.get_data(as_text=True)
    assert browser.post("/plans/old/subscribe", {"card": "new"}).status_code == 409
    assert browser.post("/plans/old/checkout").status_code == 409
    assert subscriptions() == []


@pytest.mark.stripe
def test_subscribing_with_the_saved_card(login, localstripe, stripe_plan, card_holder):
    plan = stripe_plan(price=20000, lessons=4)
    student = card_holder()
    browser = login(student)
    page = browser.get(f"/plans/{plan.slug}/subscribe").get_data(as_text=True)
    [card] = [line for line in page.splitlines() if 'name="card"' in line and "checked" in line]
    assert "•••• 4242" in card
    card_id = card.split('value="')[1].split('"')[0]
    response = browser.post(f"/plans/{plan.slug}/subscribe", {"card": card_id})
    assert response.status_code == 302 and response.headers["Location"] == "/subscription"
    [sub] = subscriptions()
    assert sub.status == SubscriptionStatus.ACTIVE and sub.student_id == student.id
    mine = browser.get("/subscription").get_data(as_text=True)
    assert "You are subscribed to Monthly 4." in mine
    assert "4 of 4 lessons left" in mine and 'aria-valuenow="0"' in mine
    assert f"on {sub.current_period_end:%d %B %Y}" in mine and "$200.00</strong>" in mine
    # A second subscription is refused: the page sends the student to the one they have.
    again = browser.get(f"/plans/{plan.slug}/subscribe")
    assert again.status_code == 302 and again.headers["Location"] == "/subscription"
    refused = browser.post(f"/plans/{plan.slug}/subscribe", {"card": card_id}, headers=HTMX)
    assert refused.status_code == 422
    assert "You already have a subscription." in refused.get_data(as_text=True)
    assert len(subscriptions()) == 1


@pytest.mark.stripe
def test_subscribing_with_a_new_card_through_htmx(login, localstripe, stripe_plan, student):
    plan = stripe_plan()
    browser = login(student)
    response = browser.post(
        f"/plans/{plan.slug}/subscribe",
        {"card": "new", "provider_method_id": localstripe.token()},
        headers=HTMX,
    )
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/subscription"
    [sub] = subscriptions()
    assert sub.status == SubscriptionStatus.ACTIVE
    methods = browser.get("/billing/methods").get_data(as_text=True)
    assert "4242" in methods  # the card is kept for the renewals


@pytest.mark.stripe
@pytest.mark.parametrize(
    ("number", "message"), [(DECLINED, "card was declined"), (DECLINED_AT_CHARGE, "declined")]
)
def test_a_declined_card_is_shown_and_leaves_nothing(
    login, localstripe, stripe_plan, student, number, message
):
    plan = stripe_plan()
    browser = login(student)
    response = browser.post(
        f"/plans/{plan.slug}/subscribe",
        {"card": "new", "provider_method_id": localstripe.token(number)},
        headers=HTMX,
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert message in body and 'data-payment-state="error"' in body
    assert body.lstrip().startswith('<div id="pay-status"')  # the fragment only
    assert subscriptions() == []
    assert all(s["status"] != "active" for s in _stripe_subs(localstripe))


def _stripe_subs(localstripe) -> list[dict]:
    customers = localstripe.get("/v1/customers")["data"]
    return [s for c in customers for s in stripe_subscriptions(localstripe, c["id"])]


@pytest.mark.stripe
def test_3d_secure_is_completed_in_the_page(login, localstripe, stripe_plan, student):
    plan = stripe_plan()
    browser = login(student)
    url = f"/plans/{plan.slug}/subscribe"
    token = localstripe.token(THREE_D_SECURE)
    step = browser.post(url, {"card": "new", "provider_method_id": token}, headers=HTMX)
    body = step.get_data(as_text=True)
    assert step.status_code == 200 and 'data-payment-state="requires_action"' in body
    secret = body.split('data-client-secret="')[1].split('"')[0]
    [sub] = subscriptions()
    assert sub.status == SubscriptionStatus.INCOMPLETE
    localstripe.authenticate(secret)
    done = browser.post(url, {"after_action": "1"}, headers=HTMX)
    assert done.headers.get("HX-Redirect") == "/subscription", done.get_data(as_text=True)
    [sub] = subscriptions()
    assert sub.status == SubscriptionStatus.ACTIVE


@pytest.mark.stripe
def test_3d_secure_refused_is_said_and_another_card_can_be_tried(
    login, localstripe, stripe_plan, student
):
    plan = stripe_plan()
    browser = login(student)
    url = f"/plans/{plan.slug}/subscribe"
    token = localstripe.token(THREE_D_SECURE)
    body = browser.post(url, {"card": "new", "provider_method_id": token}, headers=HTMX)
    secret = body.get_data(as_text=True).split('data-client-secret="')[1].split('"')[0]
    localstripe.authenticate(secret, success=False)
    failed = browser.post(url, {"after_action": "1"}, headers=HTMX)
    assert failed.status_code == 200
    assert "Your bank did not confirm the payment." in failed.get_data(as_text=True)
    [sub] = subscriptions()
    assert not sub.is_live  # Stripe ended it: nothing blocks another try
    again = browser.post(
        url, {"card": "new", "provider_method_id": localstripe.token()}, headers=HTMX
    )
    assert again.headers.get("HX-Redirect") == "/subscription"
    assert [s.status for s in subscriptions()] == ["canceled", "active"]


def test_bad_subscribe_input_changes_nothing(login, student):
    plan = make_plan()
    browser = login(student)
    url = f"/plans/{plan.slug}/subscribe"
    for form, message in (
        ({}, "Enter your card details."),  # a student without cards pays with a new one
        ({"card": "new"}, "Enter your card details."),
        ({"card": "12345"}, "Not a valid choice."),
        ({"card": "new", "provider_method_id": "nonsense"}, "card"),
    ):
        response = browser.post(url, form, headers=HTMX)
        assert response.status_code == 422, form
        assert message in response.get_data(as_text=True), form
    assert subscriptions() == []


def test_somebody_elses_card_is_not_a_choice(login, student):
    plan = make_plan()
    other = factories.UserFactory(role="student")
    from portal.payments.models import PaymentMethod

    card = PaymentMethod(
        user_id=other.id, provider_method_id="card_x", card_brand="visa", card_last4="4242",
        exp_month=12, exp_year=2034, is_default=True,
    )  # fmt: skip
    db.session.add(card)
    db.session.commit()
    response = login(student).post(f"/plans/{plan.slug}/subscribe", {"card": str(card.id)})
    assert response.status_code == 422 and subscriptions() == []


@pytest.mark.stripe
def test_cancel_at_period_end_asks_first_then_reactivate(
    login, localstripe, stripe_plan, card_holder
):
    plan = stripe_plan()
    student = card_holder()
    browser = login(student)
    browser.post(f"/plans/{plan.slug}/subscribe", {"card": _default_card(student)})
    [sub] = subscriptions()
    mine = browser.get("/subscription").get_data(as_text=True)
    assert 'href="/subscription/cancel"' in mine
    ask = browser.get("/subscription/cancel").get_data(as_text=True)
    end = f"{sub.current_period_end:%d %B %Y}"
    assert f"Your subscription stays until <strong>{end}</strong>" in ask
    assert "Yes, cancel my subscription" in ask
    [sub] = subscriptions()
    assert not sub.cancel_at_period_end  # asking changed nothing
    # Without the CSRF token the form does nothing.
    browser.client.post("/subscription/cancel", data={"csrf_token": "forged"})
    assert not subscriptions()[0].cancel_at_period_end
    done = browser.post("/subscription/cancel")
    assert done.status_code == 302
    [sub] = subscriptions()
    assert sub.cancel_at_period_end and sub.status == SubscriptionStatus.ACTIVE
    mine = browser.get("/subscription").get_data(as_text=True)
    assert f"ends on {end}" in mine and "Keep my subscription" in mine
    assert "Next payment" not in mine
    back = browser.post("/subscription/reactivate")
    assert back.status_code == 302
    [sub] = subscriptions()
    assert not sub.cancel_at_period_end
    assert "renews as before" in browser.get("/subscription").get_data(as_text=True)
    again = browser.post("/subscription/reactivate")
    assert again.status_code == 302
    assert "not being cancelled" in browser.get("/subscription").get_data(as_text=True)


def _default_card(student) -> str:
    from portal.payments.cards import payment_methods_of

    return str(payment_methods_of(student)[0].id)


def test_change_plan_bad_input(login, student):
    plan = make_plan("monthly-4")
    make_subscription(student, plan)
    old = make_plan("old", active=False)
    browser = login(student)
    for form, message in (
        ({}, "Choose a plan."),
        ({"plan_id": "abc"}, "Not a valid choice."),
        ({"plan_id": str(old.id)}, "Not a valid choice."),
        ({"plan_id": "999"}, "Not a valid choice."),
        ({"plan_id": str(plan.id)}, "You are already on that plan."),
    ):
        response = browser.post("/subscription/change", form)
        assert response.status_code == 302, form
        assert message in browser.get("/subscription").get_data(as_text=True), form
    [sub] = subscriptions()
    assert sub.plan_id == plan.id and sub.next_plan_id is None


def test_past_due_shows_a_banner_and_a_way_to_pay_again(login, student):
    plan = make_plan()
    make_subscription(student, plan, "past_due", open_provider_invoice_id="in_123", lessons_used=1)
    browser = login(student)
    mine = browser.get("/subscription").get_data(as_text=True)
    assert "Your last payment did not go through." in mine
    assert 'id="pay-form"' in mine and "Pay $200.00" in mine
    assert "Book a lesson" not in mine and "3 of 4 lessons left" in mine
    response = browser.post("/subscription/pay", {"card": "new"}, headers=HTMX)
    assert response.status_code == 422
    assert "Enter your card details." in response.get_data(as_text=True)


def test_paying_again_when_nothing_is_owed_is_refused(login, student):
    make_subscription(student, make_plan())
    browser = login(student)
    response = browser.post("/subscription/pay", {"card": "new", "provider_method_id": "tok_x"})
    assert response.status_code in (404, 422)
    assert subscriptions()[0].status == SubscriptionStatus.ACTIVE


def test_nothing_to_cancel_or_reactivate_without_a_subscription(login, student):
    browser = login(student)
    assert browser.get("/subscription/cancel").status_code == 404
    assert browser.post("/subscription/cancel").status_code == 404
    assert browser.post("/subscription/reactivate").status_code == 404
    assert browser.post("/subscription/pay", {"card": "new"}).status_code == 404


def test_a_first_payment_waiting_for_the_bank_can_be_paid_or_cancelled(login, student):
    make_subscription(student, make_plan(), "incomplete", open_provider_invoice_id="in_1")
    browser = login(student)
    mine = browser.get("/subscription").get_data(as_text=True)
    assert "Your first payment is not finished." in mine and 'id="pay-form"' in mine
    assert "Next payment" not in mine and "Book a lesson" not in mine
    ask = browser.get("/subscription/cancel").get_data(as_text=True)
    assert "ends now and nothing is charged" in ask


@pytest.mark.stripe
def test_subscribing_with_stripe_checkout(login, student, stripe_replay):
    plan = make_plan("lessons-4", provider_price_id="price_1QYvTvKx3oV2nQeRmonthly4")
    stripe_replay.answer("POST", "/v1/checkout/sessions", "checkout_session_subscription_open")
    browser = login(student)
    response = browser.post(f"/plans/{plan.slug}/checkout")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    [sent] = stripe_replay.seen("POST", "/v1/checkout/sessions")
    assert sent.form["mode"] == "subscription"
    assert sent.form["line_items[0][price]"] == "price_1QYvTvKx3oV2nQeRmonthly4"
    assert sent.form["success_url"].endswith("/subscription/checkout-return")
    assert sent.form["cancel_url"].endswith("/plans?checkout=cancelled")
    assert subscriptions() == []  # written when Stripe reports it
    back = browser.get("/subscription/checkout-return")
    assert back.status_code == 302 and back.headers["Location"] == "/subscription"
    assert "Checkout is finished." in browser.get("/subscription").get_data(as_text=True)
    closed = browser.get("/plans?checkout=cancelled").get_data(as_text=True)
    assert "Checkout was closed and nothing was charged." in closed


@pytest.mark.parametrize(
    ("method", "url", "form", "status"),
    [
        ("get", "/plans/%C2%B2/subscribe", None, 404),
        ("get", f"/plans/{'x' * 300}/subscribe", None, 404),
        ("post", "/plans/%C2%B2/checkout", None, 404),
        ("post", "/subscription/change", {"plan_id": "²"}, 302),
        ("post", "/subscription/change", {"plan_id": "99999999999999999999"}, 302),
    ],
)
def test_odd_plan_references_are_clear_answers(login, student, method, url, form, status):
    make_subscription(student, make_plan())
    browser = login(student)
    response = browser.get(url) if method == "get" else browser.post(url, form)
    assert response.status_code == status
    assert subscriptions()[0].plan.slug == "monthly-4"
