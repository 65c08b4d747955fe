"""Checkout Sessions and transfers against recorded Stripe responses (localstripe lacks them).

The provider and the `stripe` library run for real; the replay server answers on the wire
and keeps what was sent, so these tests also check the request: parameters, form
encoding and the idempotency key.
"""

from __future__ import annotations

import pytest

from portal.providers import get_provider
from portal.providers.base import CheckoutLine, ProviderObjectMissing, ProviderRejected

pytestmark = pytest.mark.stripe

OPEN = "cs_test_a1Q9rVwzM2xK7pHc4Ld8Ne3Tb6Yf0Gs5Uj1Wk9Xo2Zq4Rm7Pa3Ve8Ct5By6Di0Fh"
SUBSCRIPTION = "cs_test_b1Z7pQ2wX9vL3mK8cN4dR6tY0hF5gJ1sU7eA2oI9kB3nM6xC8vT4qW0zE5rP2yS"


def test_a_payment_session_is_created_with_the_lesson_as_its_line(stripe_replay):
    stripe_replay.answer("POST", "/v1/checkout/sessions", "checkout_session_payment_open")
    session = get_provider().create_checkout_session(
        mode="payment",
        customer="cus_TQ4mZk8Yd3Lh2N",
        lines=[CheckoutLine(name="Lesson with Tomás", amount=4500, currency="usd")],
        success_url="http://localhost/billing/checkout/return?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://localhost/billing?checkout=cancelled",
        idempotency_key="lesson-1-attempt-1",
        client_reference_id="6f1d2c7e-93b0-5a4e-8d21-3c0f9b6e7a15",
        metadata={"booking_id": "1"},
    )
    assert session.id == OPEN and session.mode == "payment"
    assert (session.status, session.payment_status, session.is_paid) == ("open", "unpaid", False)
    assert session.url.startswith("https://checkout.stripe.com/c/pay/" + OPEN)
    assert (session.amount_total, session.currency) == (4500, "usd")
    assert session.payment_intent is None

    [sent] = stripe_replay.seen("POST", "/v1/checkout/sessions")
    assert sent.headers["Idempotency-Key"] == "lesson-1-attempt-1"
    assert sent.form["mode"] == "payment"
    assert sent.form["line_items[0][price_data][unit_amount]"] == "4500"
    assert sent.form["line_items[0][price_data][currency]"] == "usd"
    assert sent.form["line_items[0][price_data][product_data][name]"] == "Lesson with Tomás"
    assert sent.form["line_items[0][quantity]"] == "1"
    assert sent.form["payment_intent_data[metadata][booking_id]"] == "1"
    assert sent.form["success_url"].endswith("session_id={CHECKOUT_SESSION_ID}")
    assert sent.headers["Authorization"] == "Bearer sk_test_localstripe"


def test_a_subscription_session_uses_a_stored_price(stripe_replay):
    stripe_replay.answer("POST", "/v1/checkout/sessions", "checkout_session_subscription_open")
    session = get_provider().create_checkout_session(
        mode="subscription",
        customer="cus_TQ4mZk8Yd3Lh2N",
        lines=[CheckoutLine(price_id="price_1QYvTvKx3oV2nQeRmonthly4")],
        success_url="http://localhost/ok",
        cancel_url="http://localhost/no",
        idempotency_key="subscribe-3-1",
        metadata={"plan": "monthly-4"},
    )
    assert (session.id, session.mode, session.amount_total) == (SUBSCRIPTION, "subscription", 16000)
    [sent] = stripe_replay.seen("POST", "/v1/checkout/sessions")
    assert sent.form["line_items[0][price]"] == "price_1QYvTvKx3oV2nQeRmonthly4"
    assert sent.form["subscription_data[metadata][plan]"] == "monthly-4"
    assert "payment_intent_data[metadata][plan]" not in sent.form


def test_a_completed_session_names_its_payment_intent(stripe_replay):
    path = f"/v1/checkout/sessions/{OPEN}"
    stripe_replay.answer("GET", path, "checkout_session_payment_complete")
    session = get_provider().retrieve_checkout_session(OPEN)
    assert session.is_paid and session.payment_intent == "pi_3QYvUaKx3oV2nQeR1c9TbGxA"
    assert session.metadata["payment_type"] == "lesson"


def test_a_session_is_expired(stripe_replay):
    stripe_replay.answer(
        "POST", f"/v1/checkout/sessions/{OPEN}/expire", "checkout_session_payment_expired"
    )
    assert get_provider().expire_checkout_session(OPEN).status == "expired"


def test_expiring_a_completed_session_is_refused(stripe_replay):
    stripe_replay.answer(
        "POST", f"/v1/checkout/sessions/{OPEN}/expire", "session_expire_not_open", status=400
    )
    with pytest.raises(ProviderRejected, match="can be expired"):
        get_provider().expire_checkout_session(OPEN)


def test_an_unknown_session_is_missing(stripe_replay):
    stripe_replay.answer(
        "GET", "/v1/checkout/sessions/cs_test_unknown", "resource_missing", status=404
    )
    with pytest.raises(ProviderObjectMissing):
        get_provider().retrieve_checkout_session("cs_test_unknown")


def test_a_transfer_goes_to_the_connected_account_with_its_key(stripe_replay):
    stripe_replay.answer("POST", "/v1/transfers", "transfer")
    transfer = get_provider().create_transfer(
        amount=12500,
        currency="usd",
        destination="acct_1QYvWfQ4tZ8kHs2M",
        idempotency_key="0d9f3b1e-6c2a-4f7d-9e85-1a4b7c3d2e6f",
        metadata={"payout_uuid": "0d9f3b1e-6c2a-4f7d-9e85-1a4b7c3d2e6f"},
    )
    assert (transfer.id, transfer.amount, transfer.currency) == (
        "tr_1QYvX2Kx3oV2nQeRzH4pLw9c",
        12500,
        "usd",
    )
    assert transfer.destination == "acct_1QYvWfQ4tZ8kHs2M" and not transfer.reversed
    [sent] = stripe_replay.seen("POST", "/v1/transfers")
    assert sent.headers["Idempotency-Key"] == "0d9f3b1e-6c2a-4f7d-9e85-1a4b7c3d2e6f"
    assert sent.form == {
        "amount": "12500",
        "currency": "usd",
        "destination": "acct_1QYvWfQ4tZ8kHs2M",
        "metadata[payout_uuid]": "0d9f3b1e-6c2a-4f7d-9e85-1a4b7c3d2e6f",
    }


def test_a_transfer_the_balance_cannot_cover_is_refused_with_stripes_message(stripe_replay):
    stripe_replay.answer("POST", "/v1/transfers", "transfer_insufficient_funds", status=400)
    with pytest.raises(ProviderRejected) as caught:
        get_provider().create_transfer(
            amount=12500, currency="usd", destination="acct_1", idempotency_key="k"
        )
    assert caught.value.provider_code == "balance_insufficient"
    assert "insufficient available funds" in caught.value.message
    assert not caught.value.retryable


def test_a_transfer_is_retrieved(stripe_replay):
    stripe_replay.answer("GET", "/v1/transfers/tr_1QYvX2Kx3oV2nQeRzH4pLw9c", "transfer")
    transfer = get_provider().retrieve_transfer("tr_1QYvX2Kx3oV2nQeRzH4pLw9c")
    assert transfer.metadata == {"payout_uuid": "0d9f3b1e-6c2a-4f7d-9e85-1a4b7c3d2e6f"}
