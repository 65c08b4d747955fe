"""A payment method for the test Visa at localstripe, made as Stripe.js would make it (with
the secret key: localstripe's Stripe.js has no createPaymentMethod). Standard library only,
so the contract check's scripts share it whichever venv runs them."""

from __future__ import annotations

import base64
import json
import os
import urllib.parse
import urllib.request

VISA = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"}


def visa_payment_method() -> str:
    """A new `pm_…` id for the Visa, at STRIPE_API_BASE."""
    base = os.environ["STRIPE_API_BASE"].rstrip("/")
    key = os.environ.get("STRIPE_SECRET_KEY", "sk_test_localstripe")
    form = {f"card[{k}]": v for k, v in VISA.items()} | {"type": "card"}
    request = urllib.request.Request(  # noqa: S310 - localstripe's address, http
        f"{base}/v1/payment_methods",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return json.load(answer)["id"]
