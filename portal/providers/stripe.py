"""The payment provider implemented with the official `stripe` library.

One `stripe.StripeClient` per app (no module-level `stripe.api_key`), pointed at
`STRIPE_API_BASE` with `STRIPE_TIMEOUT_SECONDS` and `STRIPE_MAX_NETWORK_RETRIES`. The
library retries network failures itself, resending our idempotency key.

Two ids can stand for a card the browser collected: a PaymentMethod (`pm_…`, from
Stripe.js `createPaymentMethod` or a SetupIntent) and a token (`tok_…`, from
`createToken`, which is all localstripe's Stripe.js offers). A token becomes a card
source (`card_…`) on the customer; Stripe accepts such a card wherever a payment method
is expected, so everything after `attach_payment_method` treats both alike.
"""

from __future__ import annotations

from typing import Any

import stripe

from portal.providers.base import (
    CheckoutLine,
    PaymentProvider,
    ProviderCard,
    ProviderCheckoutSession,
    ProviderIntent,
    ProviderObjectMissing,
    ProviderPrice,
    ProviderRefund,
    ProviderSetupIntent,
    ProviderTransfer,
)
from portal.providers.stripe_billing import StripeBilling
from portal.providers.stripe_wire import data_of as _data
from portal.providers.stripe_wire import id_of as _id_of
from portal.providers.stripe_wire import key as _key
from portal.providers.stripe_wire import shallow as _shallow
from portal.providers.stripe_wire import translate_errors

SOURCE_PREFIXES = ("card_", "src_")


class StripeProvider(StripeBilling, PaymentProvider):
    name = "stripe"

    def __init__(self, client: stripe.StripeClient) -> None:
        self.client = client

    @classmethod
    def from_config(cls, config) -> StripeProvider:
        base = config["STRIPE_API_BASE"].rstrip("/")
        client = stripe.StripeClient(
            config["STRIPE_SECRET_KEY"],
            base_addresses={"api": base, "connect": base, "files": base},
            max_network_retries=config["STRIPE_MAX_NETWORK_RETRIES"],
            http_client=stripe.RequestsClient(timeout=config["STRIPE_TIMEOUT_SECONDS"]),
        )
        return cls(client)

    # Plans

    def create_recurring_price(
        self, *, name, amount, currency, interval, idempotency_key, metadata=None
    ) -> ProviderPrice:
        metadata = metadata or {}
        with translate_errors("create product"):
            product = self.client.v1.products.create(
                {"name": name, "metadata": metadata}, _key(f"{idempotency_key}:product")
            )
        params = {"product": product.id, "currency": currency, "metadata": metadata}
        try:
            price = self.client.v1.prices.create(
                params | {"unit_amount": amount, "recurring": {"interval": interval}},
                _key(f"{idempotency_key}:price"),
            )
        except stripe.StripeError as exc:
            # Stripe answers a bad price with 400; a 404 means the route itself is missing:
            # localstripe, which has no Prices, takes the older Plan (`plan_…`) instead.
            if exc.http_status != 404:
                with translate_errors("create price"):
                    raise
            with translate_errors("create plan"):
                plan = self.client.v1.plans.create(
                    params | {"amount": amount, "interval": interval},
                    _key(f"{idempotency_key}:plan"),
                )
            return ProviderPrice(product_id=product.id, price_id=plan.id)
        return ProviderPrice(product_id=product.id, price_id=price.id)

    # Customers

    def create_customer(self, *, email, name, idempotency_key, metadata=None) -> str:
        params = {"email": email, "name": name, "metadata": metadata or {}}
        with translate_errors("create customer"):
            customer = self.client.v1.customers.create(params, _key(idempotency_key))
        return customer.id

    def set_default_payment_method(self, customer: str, method_id: str) -> None:
        # A card source is the customer's default source; a PaymentMethod is the default
        # for invoices (subscriptions). Stripe charges either when no method is given.
        if method_id.startswith(SOURCE_PREFIXES):
            params: dict = {"default_source": method_id}
        else:
            params = {"invoice_settings": {"default_payment_method": method_id}}
        with translate_errors("set default payment method"):
            self.client.v1.customers.update(customer, params)

    # Payment intents

    def create_payment_intent(
        self, *, amount, currency, customer, idempotency_key, payment_method=None, metadata=None
    ) -> ProviderIntent:
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency,
            "customer": customer,
            # Cards only: the portal confirms on the server, which automatic payment
            # methods would refuse without a return_url for redirect-based methods.
            "payment_method_types": ["card"],
            "metadata": metadata or {},
        }
        if payment_method:
            params["payment_method"] = payment_method
        with translate_errors("create payment intent"):
            intent = self.client.v1.payment_intents.create(params, _key(idempotency_key))
        return intent_from_stripe(intent)

    def retrieve_payment_intent(self, intent_id: str) -> ProviderIntent:
        with translate_errors("retrieve payment intent"):
            return intent_from_stripe(self.client.v1.payment_intents.retrieve(intent_id))

    def update_payment_method(self, intent_id: str, *, payment_method: str) -> ProviderIntent:
        with translate_errors("update payment intent"):
            intent = self.client.v1.payment_intents.update(
                intent_id, {"payment_method": payment_method}
            )
        return intent_from_stripe(intent)

    def confirm_payment_intent(self, intent_id: str, *, payment_method=None) -> ProviderIntent:
        # Set the method with an update, then confirm: real Stripe also takes it in the
        # confirm call, localstripe answers that with 500 "Not implemented".
        with translate_errors("confirm payment intent"):
            if payment_method:
                self.client.v1.payment_intents.update(intent_id, {"payment_method": payment_method})
            intent = self.client.v1.payment_intents.confirm(intent_id)
        return intent_from_stripe(intent)

    def cancel_payment_intent(self, intent_id: str) -> ProviderIntent:
        with translate_errors("cancel payment intent"):
            return intent_from_stripe(self.client.v1.payment_intents.cancel(intent_id))

    # Setup intents and saved cards

    def create_setup_intent(self, *, customer, idempotency_key) -> ProviderSetupIntent:
        params = {"customer": customer, "usage": "off_session", "payment_method_types": ["card"]}
        with translate_errors("create setup intent"):
            setup = self.client.v1.setup_intents.create(params, _key(idempotency_key))
        return setup_intent_from_stripe(setup)

    def retrieve_setup_intent(self, setup_intent_id: str) -> ProviderSetupIntent:
        with translate_errors("retrieve setup intent"):
            return setup_intent_from_stripe(self.client.v1.setup_intents.retrieve(setup_intent_id))

    def attach_payment_method(self, method_id, *, customer, idempotency_key) -> ProviderCard:
        with translate_errors("attach payment method"):
            if method_id.startswith("tok_"):
                source = self.client.v1.customers.payment_sources.create(
                    customer, {"source": method_id}, _key(idempotency_key)
                )
                return card_from_stripe(source)
            if method_id.startswith(SOURCE_PREFIXES):
                return card_from_stripe(
                    self.client.v1.customers.payment_sources.retrieve(customer, method_id)
                )
            method = self.client.v1.payment_methods.retrieve(method_id)
            if _id_of(_data(method).get("customer")) == customer:
                return card_from_stripe(method)
            attached = self.client.v1.payment_methods.attach(
                method_id, {"customer": customer}, _key(idempotency_key)
            )
        return card_from_stripe(attached)

    def detach_payment_method(self, method_id: str, *, customer: str) -> None:
        with translate_errors("detach payment method"):
            if method_id.startswith(SOURCE_PREFIXES):
                self.client.v1.customers.payment_sources.delete(customer, method_id)
            else:
                self.client.v1.payment_methods.detach(method_id)

    def list_payment_methods(self, customer: str) -> list[ProviderCard]:
        with translate_errors("list payment methods"):
            found = self.client.v1.payment_methods.list({"customer": customer, "type": "card"})
        return [card_from_stripe(method) for method in found.data]

    # Refunds

    def create_refund(self, *, payment_intent, amount, idempotency_key, metadata=None):
        params = {"payment_intent": payment_intent, "amount": amount, "metadata": metadata or {}}
        with translate_errors("create refund"):
            refund = self.client.v1.refunds.create(params, _key(idempotency_key))
        return refund_from_stripe(refund)

    def list_refunds(self, payment_intent: str) -> list[ProviderRefund]:
        with translate_errors("list refunds"):
            page = self.client.v1.refunds.list({"payment_intent": payment_intent, "limit": 100})
            newest_first = [refund_from_stripe(item) for item in page.auto_paging_iter()]
        return newest_first[::-1]

    # Checkout Sessions

    def create_checkout_session(
        self,
        *,
        mode,
        customer,
        lines,
        success_url,
        cancel_url,
        idempotency_key,
        client_reference_id=None,
        metadata=None,
        trial_days=0,
    ) -> ProviderCheckoutSession:
        metadata = metadata or {}
        params: dict[str, Any] = {
            "mode": mode,
            "customer": customer,
            "line_items": [_checkout_line(line) for line in lines],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": metadata,
        }
        if client_reference_id:
            params["client_reference_id"] = client_reference_id
        # The metadata travels on to the intent or subscription, so their webhooks carry it.
        if mode == "payment":
            params["payment_intent_data"] = {"metadata": metadata}
        elif mode == "subscription":
            params["subscription_data"] = {"metadata": metadata}
            if trial_days:
                params["subscription_data"]["trial_period_days"] = trial_days
        with translate_errors("create checkout session"):
            session = self.client.v1.checkout.sessions.create(params, _key(idempotency_key))
        return checkout_session_from_stripe(session)

    def retrieve_checkout_session(self, session_id: str) -> ProviderCheckoutSession:
        with translate_errors("retrieve checkout session"):
            session = self.client.v1.checkout.sessions.retrieve(session_id)
        return checkout_session_from_stripe(session)

    def expire_checkout_session(self, session_id: str) -> ProviderCheckoutSession:
        with translate_errors("expire checkout session"):
            session = self.client.v1.checkout.sessions.expire(session_id)
        return checkout_session_from_stripe(session)

    # Transfers

    def create_transfer(
        self, *, amount, currency, destination, idempotency_key, metadata=None, transfer_group=None
    ):
        params = {
            "amount": amount,
            "currency": currency,
            "destination": destination,
            "metadata": metadata or {},
        }
        if transfer_group:
            params["transfer_group"] = transfer_group
        with translate_errors("create transfer"):
            transfer = self.client.v1.transfers.create(params, _key(idempotency_key))
        return transfer_from_stripe(transfer)

    def retrieve_transfer(self, transfer_id: str) -> ProviderTransfer:
        with translate_errors("retrieve transfer"):
            return transfer_from_stripe(self.client.v1.transfers.retrieve(transfer_id))

    def find_transfer(self, transfer_group: str) -> ProviderTransfer | None:
        try:
            with translate_errors("list transfers"):
                page = self.client.v1.transfers.list({"transfer_group": transfer_group, "limit": 1})
        except ProviderObjectMissing:
            # A listing is never missing at Stripe; a Stripe double without Connect
            # (localstripe) has no transfers at all, so none was made.
            return None
        return transfer_from_stripe(page.data[0]) if page.data else None


def _checkout_line(line: CheckoutLine) -> dict:
    if line.price_id:
        return {"price": line.price_id, "quantity": line.quantity}
    return {
        "price_data": {
            "currency": line.currency,
            "unit_amount": line.amount,
            "product_data": {"name": line.name},
        },
        "quantity": line.quantity,
    }


# Conversions from the library's objects (or webhook payload dicts) to the portal's records.


def intent_from_stripe(obj: Any) -> ProviderIntent:
    # Shallow: an intent carries its charges, and converting every nested object cost
    # more than the rest of reading it; the few nested fields used are read one by one.
    data = _shallow(obj)
    error = _data(data.get("last_payment_error"))
    return ProviderIntent(
        id=data["id"],
        status=data["status"],
        amount=int(data["amount"]),
        currency=data["currency"],
        client_secret=data.get("client_secret"),
        customer=_id_of(data.get("customer")),
        payment_method=_id_of(data.get("payment_method")),
        latest_charge=_id_of(data.get("latest_charge")),
        error_code=error.get("decline_code") or error.get("code"),
        error_message=error.get("message"),
        metadata=_data(data.get("metadata")),
    )


def card_from_stripe(obj: Any) -> ProviderCard:
    data = _data(obj)
    # A PaymentMethod nests the card; a card source is the card.
    card = data.get("card") if data.get("object") == "payment_method" else data
    card = card or {}
    return ProviderCard(
        id=data["id"],
        brand=str(card.get("brand") or "card").lower(),
        last4=str(card.get("last4") or ""),
        exp_month=int(card.get("exp_month") or 0),
        exp_year=int(card.get("exp_year") or 0),
        customer=_id_of(data.get("customer")),
    )


def setup_intent_from_stripe(obj: Any) -> ProviderSetupIntent:
    data = _data(obj)
    return ProviderSetupIntent(
        id=data["id"],
        status=data["status"],
        client_secret=data.get("client_secret"),
        customer=_id_of(data.get("customer")),
        payment_method=_id_of(data.get("payment_method")),
    )


def refund_from_stripe(obj: Any) -> ProviderRefund:
    data = _data(obj)
    return ProviderRefund(
        id=data["id"],
        amount=int(data["amount"]),
        currency=data["currency"],
        status=data["status"],
        payment_intent=_id_of(data.get("payment_intent")),
        charge=_id_of(data.get("charge")),
        metadata=dict(data.get("metadata") or {}),
    )


def checkout_session_from_stripe(obj: Any) -> ProviderCheckoutSession:
    data = _data(obj)
    return ProviderCheckoutSession(
        id=data["id"],
        mode=data["mode"],
        status=data.get("status") or "open",
        payment_status=data.get("payment_status") or "unpaid",
        url=data.get("url"),
        customer=_id_of(data.get("customer")),
        client_reference_id=data.get("client_reference_id"),
        payment_intent=_id_of(data.get("payment_intent")),
        subscription=_id_of(data.get("subscription")),
        amount_total=data.get("amount_total"),
        currency=data.get("currency"),
        expires_at=data.get("expires_at"),
        metadata=dict(data.get("metadata") or {}),
    )


def transfer_from_stripe(obj: Any) -> ProviderTransfer:
    data = _data(obj)
    return ProviderTransfer(
        id=data["id"],
        amount=int(data["amount"]),
        currency=data["currency"],
        destination=_id_of(data.get("destination")) or "",
        reversed=bool(data.get("reversed")),
        metadata=dict(data.get("metadata") or {}),
    )
