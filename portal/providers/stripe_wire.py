"""The wire between the portal and the `stripe` library: idempotency keys, the library's
errors translated into the portal's, and reading its objects (or webhook payload dicts).

A leaf of `portal.providers`: the provider class and its subscription calls share it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import stripe

from portal.providers.base import (
    CardDeclined,
    ProviderObjectMissing,
    ProviderRejected,
    ProviderUnavailable,
)

log = logging.getLogger("portal.providers.stripe")


def key(idempotency_key: str) -> dict:
    if not idempotency_key:
        raise ValueError("every create call needs an idempotency key")
    return {"idempotency_key": idempotency_key}


@contextmanager
def translate_errors(operation: str) -> Iterator[None]:
    """Turn the library's errors into the portal's, logging what failed (never secrets)."""
    try:
        yield
    except stripe.StripeError as exc:
        error = _translate(exc)
        log.warning(
            "stripe %s failed: %s %s (%s)",
            operation,
            exc.http_status,
            type(exc).__name__,
            getattr(exc, "code", None),
        )
        raise error from exc


def _translate(exc: stripe.StripeError) -> Exception:
    if isinstance(exc, stripe.CardError):
        return CardDeclined(exc.user_message or "Your card was declined.", decline_code=exc.code)
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError | stripe.APIError):
        return ProviderUnavailable()
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return ProviderRejected(
            "The payment service refused our credentials. Please tell the platform team.",
            provider_code="authentication",
        )
    if exc.http_status == 404 or getattr(exc, "code", None) == "resource_missing":
        return ProviderObjectMissing(
            "The payment service does not know that card or payment.",
            provider_code="resource_missing",
        )
    return ProviderRejected(
        exc.user_message or "The payment service refused the request.",
        provider_code=getattr(exc, "code", None),
    )


def data_of(obj: Any) -> dict:
    if obj is None:
        return {}
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def id_of(value: Any) -> str | None:
    """An expandable field is either an id or the expanded object."""
    if value is None or isinstance(value, str):
        return value
    return data_of(value).get("id")


def shallow(obj: Any) -> dict:
    return obj.to_dict(recursive=False) if hasattr(obj, "to_dict") else dict(obj)
