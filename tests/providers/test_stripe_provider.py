"""The Stripe provider against localstripe: every call the services make, and its errors."""

from __future__ import annotations

import pytest

from portal.providers.base import (
    CardDeclined,
    ProviderObjectMissing,
    ProviderRejected,
    ProviderUnavailable,
)
from portal.providers.stripe import StripeProvider
from tests.support.localstripe import DECLINED, DECLINED_AT_CHARGE, THREE_D_SECURE, VISA
from tests.support.servers import free_port

pytestmark = pytest.mark.stripe


@pytest.fixture
def provider(app, localstripe) -> StripeProvider:
    return StripeProvider.from_config(app.config)


@pytest.fixture
def customer(provider) -> str:
    return provider.create_customer(email="sam@m4sh.app", name="Sam", idempotency_key="cus-1")


def _paid_intent(provider, customer, localstripe, amount=4500):
    card = provider.attach_payment_method(
        localstripe.token(VISA), customer=customer, idempotency_key="attach-visa"
    )
    intent = provider.create_payment_intent(
        amount=amount, currency="usd", customer=customer, idempotency_key="pi-1"
    )
    return provider.confirm_payment_intent(intent.id, payment_method=card.id)


def test_a_payment_intent_is_created_retrieved_and_confirmed(provider, customer, localstripe):
    intent = provider.create_payment_intent(
        amount=4500,
        currency="usd",
        customer=customer,
        idempotency_key="pi-1",
        metadata={"booking_id": "7"},
    )
    assert intent.status == "requires_payment_method"
    assert intent.client_secret.startswith(intent.id)
    assert provider.retrieve_payment_intent(intent.id).metadata == {"booking_id": "7"}

    method = localstripe.payment_method(VISA)
    card = provider.attach_payment_method(method, customer=customer, idempotency_key="a-1")
    confirmed = provider.confirm_payment_intent(intent.id, payment_method=card.id)

    assert confirmed.status == "succeeded"
    assert confirmed.amount == 4500 and confirmed.currency == "usd"
    assert confirmed.latest_charge.startswith("ch_")
    assert confirmed.payment_method == method


def test_a_token_becomes_a_card_on_the_customer(provider, customer, localstripe):
    card = provider.attach_payment_method(
        localstripe.token(VISA), customer=customer, idempotency_key="a-1"
    )
    assert card.id.startswith("card_")
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 12, 2034)
    assert card.customer == customer
    # Attaching the card again is a lookup, not a second card.
    again = provider.attach_payment_method(card.id, customer=customer, idempotency_key="a-2")
    assert again == card


def test_a_payment_method_is_attached_listed_and_detached(provider, customer, localstripe):
    method = localstripe.payment_method(VISA)
    card = provider.attach_payment_method(method, customer=customer, idempotency_key="a-1")
    assert card.id == method and card.customer == customer
    assert [c.id for c in provider.list_payment_methods(customer)] == [method]

    provider.detach_payment_method(method, customer=customer)
    assert provider.list_payment_methods(customer) == []


def test_a_card_source_is_detached_from_the_customer(provider, customer, localstripe):
    card = provider.attach_payment_method(
        localstripe.token(VISA), customer=customer, idempotency_key="a-1"
    )
    provider.detach_payment_method(card.id, customer=customer)
    with pytest.raises(ProviderObjectMissing):
        provider.attach_payment_method(card.id, customer=customer, idempotency_key="a-2")


def test_default_payment_method_is_set_for_both_kinds_of_card(provider, customer, localstripe):
    method = localstripe.payment_method(VISA)
    provider.attach_payment_method(method, customer=customer, idempotency_key="a-1")
    provider.set_default_payment_method(customer, method)
    source = provider.attach_payment_method(
        localstripe.token(VISA), customer=customer, idempotency_key="a-2"
    )
    provider.set_default_payment_method(customer, source.id)

    data = localstripe.get(f"/v1/customers/{customer}")
    assert data["invoice_settings"]["default_payment_method"] == method
    assert data["default_source"] == source.id


def test_a_card_declined_on_attach_is_a_user_facing_error(provider, customer, localstripe):
    with pytest.raises(CardDeclined) as caught:
        provider.attach_payment_method(
            localstripe.payment_method(DECLINED), customer=customer, idempotency_key="a-1"
        )
    assert caught.value.message == "Your card was declined."
    assert caught.value.decline_code == "card_declined"
    assert caught.value.status == 400


def test_a_card_declined_at_confirm_leaves_the_error_on_the_intent(provider, customer, localstripe):
    card = provider.attach_payment_method(
        localstripe.token(DECLINED_AT_CHARGE), customer=customer, idempotency_key="a-1"
    )
    intent = provider.create_payment_intent(
        amount=4500, currency="usd", customer=customer, idempotency_key="pi-1"
    )
    with pytest.raises(CardDeclined, match="Your card was declined."):
        provider.confirm_payment_intent(intent.id, payment_method=card.id)
    after = provider.retrieve_payment_intent(intent.id)
    assert after.status == "requires_payment_method"
    assert (after.error_code, after.error_message) == ("card_declined", "Your card was declined.")


def test_three_d_secure_needs_action_then_succeeds(provider, customer, localstripe):
    card = provider.attach_payment_method(
        localstripe.token(THREE_D_SECURE), customer=customer, idempotency_key="a-1"
    )
    intent = provider.create_payment_intent(
        amount=4500, currency="usd", customer=customer, idempotency_key="pi-1"
    )
    confirmed = provider.confirm_payment_intent(intent.id, payment_method=card.id)
    assert confirmed.needs_action and confirmed.client_secret

    localstripe.authenticate(confirmed.client_secret)
    assert provider.retrieve_payment_intent(intent.id).status == "succeeded"


def test_an_intent_is_cancelled(provider, customer):
    intent = provider.create_payment_intent(
        amount=4500, currency="usd", customer=customer, idempotency_key="pi-1"
    )
    assert provider.cancel_payment_intent(intent.id).status == "canceled"


def test_confirming_a_paid_intent_again_is_refused(provider, customer, localstripe):
    paid = _paid_intent(provider, customer, localstripe)
    with pytest.raises(ProviderRejected):
        provider.confirm_payment_intent(paid.id)


def test_refunds_in_parts_and_in_full(provider, customer, localstripe):
    paid = _paid_intent(provider, customer, localstripe)
    part = provider.create_refund(payment_intent=paid.id, amount=1000, idempotency_key="r-1")
    assert (part.amount, part.status, part.payment_intent) == (1000, "succeeded", paid.id)
    assert part.charge == paid.latest_charge
    rest = provider.create_refund(payment_intent=paid.id, amount=3500, idempotency_key="r-2")
    assert rest.amount == 3500
    assert localstripe.get(f"/v1/charges/{paid.latest_charge}")["refunded"] is True
    assert {r.id for r in provider.list_refunds(paid.id)} == {part.id, rest.id}


def test_a_setup_intent_is_created_and_retrieved(provider, customer):
    setup = provider.create_setup_intent(customer=customer, idempotency_key="seti-1")
    assert setup.status == "requires_payment_method"
    assert setup.customer == customer and setup.client_secret.startswith(setup.id)
    assert provider.retrieve_setup_intent(setup.id) == setup


def test_an_unknown_id_is_a_missing_object(provider, localstripe):
    with pytest.raises(ProviderObjectMissing):
        provider.retrieve_payment_intent("pi_doesnotexist")


def test_stripe_down_is_a_retryable_gateway_error(app):
    config = {**app.config, "STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}"}
    down = StripeProvider.from_config(config)
    with pytest.raises(ProviderUnavailable) as caught:
        down.create_customer(email="a@m4sh.app", name="A", idempotency_key="cus-1")
    assert caught.value.retryable and caught.value.status == 502
    assert "try again" in caught.value.message


def test_a_wrong_secret_key_is_not_retryable(app, localstripe):
    bad = StripeProvider.from_config({**app.config, "STRIPE_SECRET_KEY": "nope"})
    with pytest.raises(ProviderRejected) as caught:
        bad.create_customer(email="a@m4sh.app", name="A", idempotency_key="cus-1")
    assert not caught.value.retryable


def test_every_create_call_needs_an_idempotency_key(provider):
    with pytest.raises(ValueError, match="idempotency key"):
        provider.create_customer(email="a@m4sh.app", name="A", idempotency_key="")
