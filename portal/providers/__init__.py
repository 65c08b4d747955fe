"""Payment providers. The app holds one provider, built from its config on first use."""

from __future__ import annotations

from flask import current_app

from portal.providers.base import PaymentProvider

EXTENSION_KEY = "payment_provider"


def get_provider() -> PaymentProvider:
    """The current app's payment provider (a `StripeProvider` unless one was installed)."""
    app = current_app._get_current_object()
    provider = app.extensions.get(EXTENSION_KEY)
    if provider is None:
        from portal.providers.stripe import StripeProvider

        provider = app.extensions[EXTENSION_KEY] = StripeProvider.from_config(app.config)
    return provider


def uses_localstripe(config) -> bool:
    """True when the pages load localstripe's Stripe.js rather than Stripe's own."""
    return not config["STRIPE_JS_URL"].startswith("https://js.stripe.com/")
