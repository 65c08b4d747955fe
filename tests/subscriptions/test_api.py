"""The subscriptions JSON API against localstripe: the seed's six endpoints and `change`,
with bad input refused and nothing written."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.payments.cards import payment_methods_of
from portal.subscriptions import services
from portal.subscriptions.plans import archive_plan
from tests import factories
from tests.subscriptions.stripe_support import periods, stripe_subscriptions, subscriptions
from tests.support.ledger import assert_ledger_ok
from tests.support.localstripe import DECLINED_AT_CHARGE, THREE_D_SECURE

pytestmark = pytest.mark.stripe
BASE = "/api/v1/subscriptions"


def _error(response) -> str:
    return response.get_json()["error"]["code"]


def test_anybody_lists_the_active_plans(anon, stripe_plan):
    cheap = stripe_plan("monthly-4", price=16000, lessons=4, features=["Any tutor"])
    stripe_plan("monthly-8", price=30000, lessons=8)
    archive_plan("monthly-8")
    db.session.commit()
    body = anon.api("GET", f"{BASE}/plans/").get_json()
    assert body["count"] == 1
    assert body["results"] == [
        {
            "id": cheap.id,
            "slug": "monthly-4",
            "name": "Monthly 4",
            "price": 16000,
            "currency": "usd",
            "interval": "month",
            "lessons_per_month": 4,
            "trial_days": 0,
            "features": ["Any tutor"],
        }
    ]


def test_a_student_subscribes_cancels_reactivates_and_ends_it(
    client, bearer, stripe_plan, card_holder
):
    plan = stripe_plan(price=20000, lessons=4)
    student = card_holder()
    headers = bearer(student)
    assert client.get(f"{BASE}/current/", headers=headers).status_code == 404
    created = client.post(f"{BASE}/", json={"plan": "monthly-4"}, headers=headers)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["plan"]["id"] == plan.id and body["status"] == "active"
    assert (body["lessons_per_month"], body["lessons_used"], body["lessons_remaining"]) == (4, 0, 4)
    assert body["provider_subscription_id"].startswith("sub_")
    assert body["current_period_start"] < body["current_period_end"]
    assert "client_secret" not in body and body["trial_end"] is None
    assert client.get(f"{BASE}/current/", headers=headers).get_json()["id"] == body["id"]
    quota = client.get(f"{BASE}/quota/", headers=headers).get_json()
    assert quota["can_book"] is True and quota["lessons_remaining"] == 4
    assert quota["period_end"] == body["current_period_end"]

    cancelled = client.post(f"{BASE}/cancel/", headers=headers)
    assert cancelled.status_code == 200 and cancelled.get_json()["cancel_at_period_end"] is True
    again = client.post(f"{BASE}/reactivate/", headers=headers)
    assert again.status_code == 200 and again.get_json()["cancel_at_period_end"] is False
    nothing = client.post(f"{BASE}/reactivate/", headers=headers)
    assert (nothing.status_code, _error(nothing)) == (409, "not_cancelling")

    ended = client.post(f"{BASE}/cancel/", json={"immediately": True}, headers=headers)
    assert ended.status_code == 200 and ended.get_json()["status"] == "canceled"
    assert client.get(f"{BASE}/current/", headers=headers).status_code == 404
    assert client.get(f"{BASE}/quota/", headers=headers).get_json()["can_book"] is False
    assert_ledger_ok()


def test_the_browser_session_needs_its_csrf_token(login, stripe_plan, card_holder):
    stripe_plan()
    browser = login(card_holder())
    refused = browser.client.post(f"{BASE}/", json={"plan": "monthly-4"})
    assert refused.status_code in (400, 403) and subscriptions() == []
    assert browser.api("POST", f"{BASE}/", json={"plan": "monthly-4"}).status_code == 201


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "invalid"),
        ({"plan_id": "1"}, 400, "invalid"),
        ({"plan_id": True}, 400, "invalid"),
        ({"plan_id": 999}, 404, "not_found"),
        ({"plan": "no-such-plan"}, 404, "not_found"),
        ({"plan": "monthly-4", "plan_id": 1}, 400, "invalid"),
        ({"plan": "monthly-4", "coupon": "FREE"}, 400, "invalid"),
        ({"plan": "monthly-4", "payment_method_id": "abc"}, 400, "invalid"),
        ({"plan": "monthly-4", "payment_method_id": 999}, 404, "not_found"),
        ({"plan": "old"}, 409, "plan_archived"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    client, bearer, stripe_plan, card_holder, localstripe, body, status, code
):
    stripe_plan()
    stripe_plan("old")
    archive_plan("old")
    db.session.commit()
    student = card_holder()
    response = client.post(f"{BASE}/", json=body, headers=bearer(student))
    assert (response.status_code, _error(response)) == (status, code), response.get_json()
    assert subscriptions() == []
    assert stripe_subscriptions(localstripe, student.stripe_customer_id) == []


def test_somebody_elses_card_a_missing_card_and_a_declined_card(
    client, bearer, stripe_plan, card_holder, localstripe
):
    stripe_plan()
    theirs = payment_methods_of(card_holder())[0].id
    student = card_holder()
    headers = bearer(student)
    other = client.post(f"{BASE}/", json={"plan": "monthly-4", "payment_method_id": theirs},
                        headers=headers)  # fmt: skip
    assert (other.status_code, _error(other)) == (404, "not_found")
    cardless = factories.UserFactory(role="student")
    none = client.post(f"{BASE}/", json={"plan": "monthly-4"}, headers=bearer(cardless))
    assert (none.status_code, _error(none)) == (400, "no_payment_method")
    declined_student = card_holder(DECLINED_AT_CHARGE)
    declined = client.post(f"{BASE}/", json={"plan": "monthly-4"},
                           headers=bearer(declined_student))  # fmt: skip
    assert (declined.status_code, _error(declined)) == (409, "card_declined")
    assert subscriptions() == [] and periods() == []
    at_stripe = stripe_subscriptions(localstripe, declined_student.stripe_customer_id)
    assert all(s["status"] == "canceled" for s in at_stripe)


def test_a_second_subscription_and_changes_that_make_no_sense_are_409(
    client, bearer, stripe_plan, card_holder
):
    stripe_plan()
    stripe_plan("monthly-8", price=30000, lessons=8)
    headers = bearer(card_holder())
    assert client.post(f"{BASE}/", json={"plan": "monthly-4"}, headers=headers).status_code == 201
    second = client.post(f"{BASE}/", json={"plan": "monthly-8"}, headers=headers)
    assert (second.status_code, _error(second)) == (409, "already_subscribed")
    same = client.post(f"{BASE}/change/", json={"plan": "monthly-4"}, headers=headers)
    assert (same.status_code, _error(same)) == (409, "same_plan")
    unknown = client.post(f"{BASE}/change/", json={"plan_id": 999}, headers=headers)
    assert unknown.status_code == 404
    bad = client.post(f"{BASE}/cancel/", json={"immediately": "yes"}, headers=headers)
    assert bad.status_code == 400
    assert len(subscriptions()) == 1 and not subscriptions()[0].cancel_at_period_end


def test_tutors_and_admins_cannot_subscribe(client, bearer, stripe_plan):
    stripe_plan()
    for role in ("tutor", "admin"):
        user = factories.UserFactory(role=role)
        response = client.post(f"{BASE}/", json={"plan": "monthly-4"}, headers=bearer(user))
        assert (response.status_code, _error(response)) == (403, "forbidden")
    assert subscriptions() == []


def test_3d_secure_gives_the_client_secret_until_it_is_done(
    client, bearer, stripe_plan, card_holder, localstripe
):
    stripe_plan()
    headers = bearer(card_holder(THREE_D_SECURE))
    created = client.post(f"{BASE}/", json={"plan": "monthly-4"}, headers=headers)
    assert created.status_code == 201
    body = created.get_json()
    assert body["status"] == "incomplete" and body["client_secret"]
    current = client.get(f"{BASE}/current/", headers=headers).get_json()
    assert current["client_secret"] == body["client_secret"]
    assert client.get(f"{BASE}/quota/", headers=headers).get_json()["can_book"] is False
    localstripe.authenticate(body["client_secret"])  # Stripe.js in the page
    db.session.expire_all()
    services.refresh_subscription(subscriptions()[0])  # what the page asks next
    db.session.commit()
    current = client.get(f"{BASE}/current/", headers=headers).get_json()
    assert current["status"] == "active" and "client_secret" not in current
    assert len(periods()) == 1


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/", {"plan": "monthly-4", "plan_id": 1}, "plan"),
        ("/", {"plan": "Monthly 4"}, "plan"),
        ("/", {"plan_id": 0}, "plan_id"),
        ("/change/", {"plan": "monthly-4", "plan_id": 1}, "plan"),
        ("/change/", {"plan": "monthly-4", "payment_method_id": 7}, "payment_method_id"),
        ("/cancel/", {"immediately": 1}, "immediately"),
        ("/cancel/", {"immediately": True, "reason": "moving"}, "reason"),
        ("/reactivate/", {"now": True}, "now"),
    ],
)
def test_the_body_is_checked_before_stripe_is_asked(
    client, bearer, stripe_plan, card_holder, path, body, field
):
    stripe_plan()
    student = card_holder()
    response = client.post(f"{BASE}{path}", json=body, headers=bearer(student))
    assert (response.status_code, _error(response)) == (400, "invalid")
    assert field in response.get_json()["error"]["fields"]
    assert subscriptions() == []
