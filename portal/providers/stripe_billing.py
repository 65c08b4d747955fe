"""Subscriptions and their invoices at Stripe, the part of `StripeProvider` that bills.

Stripe's subscription and invoice objects are answered as plain dicts (the JSON shape
webhook events carry). A subscription has one item, on a Price (`price_…`) or, at
localstripe, which has no Prices, a Plan (`plan_…`).
"""

from __future__ import annotations

from typing import Any

import stripe

from portal.providers.base import ProviderIntent
from portal.providers.stripe_wire import data_of as _data
from portal.providers.stripe_wire import id_of as _id_of
from portal.providers.stripe_wire import key as _key
from portal.providers.stripe_wire import translate_errors


class StripeBilling:
    """Mixed into `StripeProvider`, which holds `client` and `retrieve_payment_intent`."""

    client: stripe.StripeClient

    def create_subscription(
        self, *, customer, price_id, idempotency_key, trial_days=0, metadata=None
    ) -> dict:
        params: dict[str, Any] = {
            "customer": customer,
            "items": [_price_item(price_id)],
            "metadata": metadata or {},
            # The first invoice is charged now; a card that needs 3-D Secure leaves the
            # subscription `incomplete` with an intent for Stripe.js to confirm, and a
            # declined one leaves it `incomplete` too (the caller cancels it).
            "payment_behavior": "allow_incomplete",
            "expand": ["latest_invoice"],
        }
        if trial_days:
            params["trial_period_days"] = trial_days
        with translate_errors("create subscription"):
            subscription = self.client.v1.subscriptions.create(params, _key(idempotency_key))
        return _data(subscription)

    def retrieve_subscription(self, subscription_id: str) -> dict:
        with translate_errors("retrieve subscription"):
            subscription = self.client.v1.subscriptions.retrieve(
                subscription_id, {"expand": ["latest_invoice"]}
            )
        return _data(subscription)

    def set_cancel_at_period_end(self, subscription_id: str, cancel: bool) -> dict:
        with translate_errors("update subscription"):
            subscription = self.client.v1.subscriptions.update(
                subscription_id, {"cancel_at_period_end": cancel}
            )
        return _data(subscription)

    def change_subscription_price(self, subscription_id, *, price_id, prorate, idempotency_key):
        with translate_errors("change subscription price"):
            current = _data(self.client.v1.subscriptions.retrieve(subscription_id))
            item = {**_price_item(price_id), "id": current["items"]["data"][0]["id"]}
            params: dict[str, Any] = {
                "items": [item],
                "proration_behavior": "always_invoice" if prorate else "none",
                "expand": ["latest_invoice"],
            }
            if prorate:
                # The difference is charged now; a declined card changes nothing.
                params["payment_behavior"] = "error_if_incomplete"
            subscription = self.client.v1.subscriptions.update(
                subscription_id, params, _key(idempotency_key)
            )
        return _data(subscription)

    def cancel_subscription_now(self, subscription_id: str) -> dict:
        with translate_errors("cancel subscription"):
            return _data(self.client.v1.subscriptions.cancel(subscription_id))

    def retrieve_invoice(self, invoice_id: str) -> dict:
        with translate_errors("retrieve invoice"):
            return _data(self.client.v1.invoices.retrieve(invoice_id))

    def list_subscription_invoices(self, subscription_id: str, *, limit: int = 12) -> list[dict]:
        with translate_errors("list invoices"):
            page = self.client.v1.invoices.list({"subscription": subscription_id, "limit": limit})
        return [_data(invoice) for invoice in page.data]

    def invoice_payment_intent(self, invoice: dict) -> ProviderIntent | None:
        # Older API versions (and localstripe) name the intent on the invoice; newer ones
        # list the invoice's payments separately.
        if "payment_intent" in invoice:
            intent_id = _id_of(invoice["payment_intent"])
        else:
            with translate_errors("list invoice payments"):
                page = self.client.v1.invoice_payments.list({"invoice": invoice["id"], "limit": 1})
            payments = [_data(item) for item in page.data]
            intent_id = (
                _id_of((payments[0].get("payment") or {}).get("payment_intent"))
                if (payments)
                else None
            )
        return self.retrieve_payment_intent(intent_id) if intent_id else None

    def pay_invoice(self, invoice_id: str, *, payment_method: str | None = None) -> dict:
        # A card source is charged as the customer's default source (set by the caller);
        # a PaymentMethod is named, since a subscription's own default would win.
        params = (
            {"payment_method": payment_method}
            if payment_method and (payment_method.startswith("pm_"))
            else {}
        )
        with translate_errors("pay invoice"):
            return _data(self.client.v1.invoices.pay(invoice_id, params or None))


def _price_item(price_id: str) -> dict:
    """A subscription item on a Price (`price_…`) or, at localstripe, a Plan (`plan_…`)."""
    return {"price": price_id} if price_id.startswith("price_") else {"plan": price_id}
