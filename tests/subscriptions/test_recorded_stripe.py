"""What localstripe cannot do, against Stripe's recorded answers at the HTTP level: trials,
3-D Secure and declines of a first invoice in today's API shape, plan changes with
proration, Prices, Checkout in subscription mode, paying a failed renewal again.

`stripe_replay` answers the routes a test names with recorded JSON and forwards the rest
(customers, cards) to localstripe, so the real provider class and `stripe` library run.
"""

from __future__ import annotations

import pytest

from portal.errors import Conflict, NotFound
from portal.extensions import db
from portal.invoices.models import InvoiceKind
from portal.payments.cards import add_payment_method, payment_methods_of
from portal.subscriptions import events, services
from portal.subscriptions.models import SubscriptionStatus
from tests.subscriptions.recorded_support import P4, P8, SUB, subscribed
from tests.subscriptions.stripe_support import invoices, periods, subscriptions
from tests.support.ledger import assert_ledger_ok
from tests.support.stripe_replay import recorded

pytestmark = pytest.mark.stripe


def test_a_trial_starts_with_a_free_period_and_sends_a_price(stripe_replay, four, card_holder):
    student, created = subscribed(stripe_replay, four, card_holder, "subscription_trialing")
    [sent] = stripe_replay.seen("POST", "/v1/subscriptions")
    assert sent.form["items[0][price]"] == P4 and "items[0][plan]" not in sent.form
    assert sent.form["trial_period_days"] == "7"
    assert sent.form["payment_behavior"] == "allow_incomplete"
    assert sent.form["expand[0]"] == "latest_invoice"
    sub = created.subscription
    assert sent.headers["Idempotency-Key"] == f"subscription-{sub.uuid}"
    assert sent.form["metadata[subscription_uuid]"] == str(sub.uuid)
    assert sub.status == SubscriptionStatus.TRIALING and created.client_secret is None
    assert sub.trial_end is not None and sub.trial_end == sub.current_period_end
    [period] = periods()
    assert (period.amount_paid, period.lessons_allowed) == (0, 4)
    assert invoices() == []  # nothing was charged, so nothing is invoiced


def test_3d_secure_of_the_first_invoice_gives_the_client_secret(stripe_replay, four, card_holder):
    stripe_replay.answer("GET", "/v1/invoice_payments", "invoice_payments_open")
    stripe_replay.answer("GET", "/v1/payment_intents/pi_3QbX7xKx3oV2nQeR1sca0001",
                         "payment_intent_invoice_requires_action")  # fmt: skip
    student, created = subscribed(stripe_replay, four, card_holder, "subscription_incomplete")
    assert created.client_secret.startswith("pi_3QbX7xKx3oV2nQeR1sca0001_secret_")
    sub = created.subscription
    assert sub.status == SubscriptionStatus.INCOMPLETE
    assert sub.open_provider_invoice_id == "in_1QbX7wKx3oV2nQeRsca00001"
    assert periods() == [] and invoices() == []
    assert not stripe_replay.seen("DELETE", f"/v1/subscriptions/{SUB}")


def test_a_declined_first_invoice_is_cancelled_at_stripe(stripe_replay, four, card_holder):
    stripe_replay.answer("POST", "/v1/subscriptions", "subscription_incomplete")
    stripe_replay.answer("GET", "/v1/invoice_payments", "invoice_payments_open")
    stripe_replay.answer("GET", "/v1/payment_intents/pi_3QbX7xKx3oV2nQeR1sca0001",
                         "payment_intent_invoice_declined")  # fmt: skip
    stripe_replay.answer("DELETE", f"/v1/subscriptions/{SUB}", "subscription_incomplete_canceled")
    student = card_holder()
    with pytest.raises(Conflict) as declined:
        services.create_subscription(student, four)
    db.session.rollback()
    assert declined.value.code == "card_declined"
    assert declined.value.message == "Your card has insufficient funds."
    assert len(stripe_replay.seen("DELETE", f"/v1/subscriptions/{SUB}")) == 1
    assert subscriptions() == [] and periods() == []


def test_an_upgrade_applies_now_with_stripes_proration(stripe_replay, four, eight, card_holder):
    student, _ = subscribed(stripe_replay, four, card_holder)
    stripe_replay.answer("GET", f"/v1/subscriptions/{SUB}", "subscription_active")
    stripe_replay.answer("POST", f"/v1/subscriptions/{SUB}", "subscription_upgraded")
    sub = services.change_plan(student, eight)
    db.session.commit()
    [sent] = stripe_replay.seen("POST", f"/v1/subscriptions/{SUB}")
    assert sent.form["items[0][id]"] == "si_RUq3Yc8FvXk2Lm"
    assert sent.form["items[0][price]"] == P8
    assert sent.form["proration_behavior"] == "always_invoice"
    assert sent.form["payment_behavior"] == "error_if_incomplete"
    assert sent.headers["Idempotency-Key"].startswith(f"subscription-{sub.uuid}-plan-{eight.id}-")
    assert sub.plan_id == eight.id and sub.next_plan_id is None
    first, upgrade = periods()
    assert first.closed_at is not None and upgrade.closed_at is None
    assert (upgrade.amount_paid, upgrade.lessons_allowed) == (9333, 8)
    assert [i.total for i in invoices()] == [16000, 9333]
    assert {i.kind for i in invoices()} == {InvoiceKind.SUBSCRIPTION}
    assert_ledger_ok()


def test_a_downgrade_waits_for_the_renewal(stripe_replay, four, eight, card_holder):
    stripe_replay.answer("POST", "/v1/subscriptions", "subscription_upgraded")
    student = card_holder()
    sub = services.create_subscription(student, eight).subscription
    db.session.commit()
    stripe_replay.answer("GET", f"/v1/subscriptions/{SUB}", "subscription_upgraded")
    stripe_replay.answer("POST", f"/v1/subscriptions/{SUB}", "subscription_downgraded")
    sub = services.change_plan(student, four)
    db.session.commit()
    [sent] = stripe_replay.seen("POST", f"/v1/subscriptions/{SUB}")
    assert sent.form["items[0][price]"] == P4 and sent.form["proration_behavior"] == "none"
    assert "payment_behavior" not in sent.form
    assert (sub.plan_id, sub.next_plan_id) == (eight.id, four.id)
    with pytest.raises(Conflict) as again:
        services.change_plan(student, four)
    assert again.value.code == "same_plan"
    db.session.rollback()
    events.invoice_paid(recorded("invoice_renewal_paid"))
    db.session.commit()
    db.session.refresh(sub)
    assert (sub.plan_id, sub.next_plan_id) == (four.id, None)
    assert periods()[-1].lessons_allowed == 4 and periods()[-1].amount_paid == 16000
    assert_ledger_ok()


def test_checkout_in_subscription_mode(stripe_replay, four, card_holder):
    stripe_replay.answer("POST", "/v1/checkout/sessions", "checkout_session_subscription_open")
    student = card_holder()
    url = services.create_checkout_subscription(
        student, four, success_url="http://localhost/s", cancel_url="http://localhost/c"
    )
    assert url.startswith("https://checkout.stripe.com/")
    [sent] = stripe_replay.seen("POST", "/v1/checkout/sessions")
    assert sent.form["mode"] == "subscription"
    assert sent.form["line_items[0][price]"] == P4
    assert sent.form["subscription_data[metadata][student_id]"] == str(student.id)
    assert sent.form["subscription_data[trial_period_days]"] == "7"
    assert sent.headers["Idempotency-Key"].startswith(f"checkout-subscription-{student.id}-")
    assert subscriptions() == []  # written when Stripe says it exists
    active = recorded("subscription_active")
    active["metadata"] = {"student_id": str(student.id), "plan_id": str(four.id)}
    stripe_replay.answer_json("GET", f"/v1/subscriptions/{SUB}", active)
    result = events.checkout_completed(recorded("checkout_session_subscription_complete"))
    db.session.commit()
    [sub] = subscriptions()
    assert (sub.student_id, sub.plan_id, sub.status) == (student.id, four.id, "active")
    assert "from Checkout: active" in result
    assert len(periods()) == 1 and len(invoices()) == 1


def test_a_past_due_subscription_is_paid_again_with_another_card(
    stripe_replay,
    four,
    card_holder,
    localstripe,
):
    student, created = subscribed(stripe_replay, four, card_holder)
    sub = created.subscription
    sub.status, sub.open_provider_invoice_id = "past_due", "in_1QdB3cKx3oV2nQeRpastdue1"
    db.session.commit()
    card = add_payment_method(student, localstripe.payment_method())
    db.session.commit()
    stripe_replay.answer("POST", "/v1/invoices/in_1QdB3cKx3oV2nQeRpastdue1/pay",
                         "invoice_past_due_paid")  # fmt: skip
    stripe_replay.answer("GET", f"/v1/subscriptions/{SUB}", "subscription_active_renewed")
    assert services.retry_open_invoice(student, payment_method_id=card.id) is None
    db.session.commit()
    [sent] = stripe_replay.seen("POST", "/v1/invoices/in_1QdB3cKx3oV2nQeRpastdue1/pay")
    assert sent.form["payment_method"] == card.provider_method_id
    db.session.refresh(sub)
    assert sub.status == SubscriptionStatus.ACTIVE and sub.open_provider_invoice_id is None
    assert len(periods()) == 2 and len(invoices()) == 2
    theirs = payment_methods_of(card_holder())[0].id
    with pytest.raises(Conflict):  # nothing left to pay
        services.retry_open_invoice(student, payment_method_id=theirs)


def test_somebody_elses_card_cannot_pay_the_open_invoice(stripe_replay, four, card_holder):
    student, created = subscribed(stripe_replay, four, card_holder)
    created.subscription.status = "past_due"
    created.subscription.open_provider_invoice_id = "in_1QdB3cKx3oV2nQeRpastdue1"
    db.session.commit()
    theirs = payment_methods_of(card_holder())[0].id
    with pytest.raises(NotFound):
        services.retry_open_invoice(student, payment_method_id=theirs)
    assert not stripe_replay.seen("POST", "/v1/invoices/in_1QdB3cKx3oV2nQeRpastdue1/pay")


def test_the_api_changes_plan_and_shows_the_waiting_one(
    client, bearer, stripe_replay, four, eight, card_holder
):
    stripe_replay.answer("POST", "/v1/subscriptions", "subscription_upgraded")
    student = card_holder()
    headers = bearer(student)
    assert (
        client.post(
            "/api/v1/subscriptions/", json={"plan_id": eight.id}, headers=headers
        ).status_code
        == 201
    )
    stripe_replay.answer("GET", f"/v1/subscriptions/{SUB}", "subscription_upgraded")
    stripe_replay.answer("POST", f"/v1/subscriptions/{SUB}", "subscription_downgraded")
    response = client.post(
        "/api/v1/subscriptions/change/", json={"plan": four.slug}, headers=headers
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["plan"]["id"] == eight.id and body["next_plan"]["id"] == four.id
    assert body["lessons_per_month"] == 8
