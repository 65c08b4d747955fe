"""The Stripe webhook's event (described, not validated: the view verifies the raw body's
signature itself) and its answer."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from portal.contract.schemas import Answer, examples
from portal.webhooks.handlers import HANDLERS

HANDLED_TYPES = ", ".join(f"`{name}`" for name in sorted(HANDLERS))


class StripeEvent(BaseModel):
    """A Stripe event as Stripe sends it (more fields than these are kept)."""

    model_config = ConfigDict(
        extra="allow",
        **examples(
            {
                "id": "evt_1Q2w3E4r5T6y7U8i",
                "object": "event",
                "type": "payment_intent.succeeded",
                "created": 1793061000,
                "livemode": False,
                "data": {"object": {"id": "pi_3Q2w3E4r5T6y7U8i", "object": "payment_intent"}},
            }
        ),
    )

    id: str = Field(description="Stripe's event id; an id already stored is a duplicate.")
    object: str = "event"
    type: str = Field(description=f"Handled: {HANDLED_TYPES}. Any other type is stored as ignored.")
    created: int
    livemode: bool
    data: dict = Field(description="`object`: the payment intent, charge, refund, "
                       "subscription, invoice or Checkout session the event is about.")  # fmt: skip


class WebhookReceipt(Answer):
    model_config = examples({"received": True, "id": "evt_1Q2w3E4r5T6y7U8i", "duplicate": False})

    received: bool
    id: str = Field(description="The event's Stripe id.")
    duplicate: bool = Field(description="Already stored: not processed again.")
