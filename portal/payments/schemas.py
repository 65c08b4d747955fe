"""The payments API's requests and answers (`/api/v1/payments/`)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AliasChoices, Field, StrictBool, StrictInt

from portal.contract.schemas import (
    Answer,
    Id,
    Money,
    PageQuery,
    PositiveMoney,
    RequestBody,
    Timestamp,
    examples,
    row_uuid,
    text,
)
from portal.payments.intents import PaymentStep
from portal.payments.models import PaymentStatus, PaymentType, Refund, RefundStatus
from portal.payments.refunds import MAX_REASON_LENGTH

PaymentStatusShown = Literal[(*PaymentStatus, "requires_action")]
ProviderId = text(255, min_length=1)
_PAYMENT_ID = "3f6c1a9e-8d4b-4a51-9d0e-2b7f5c1e4a10"


class IntentRequest(RequestBody):
    model_config = examples({"booking_id": 42}, {"booking_id": 42, "payment_method_id": 7})

    booking_id: Id = Field(description="The lesson to pay; its price is the amount.")
    payment_method_id: Id | None = Field(None, description="A saved card to pay with.")
    amount: StrictInt | None = Field(
        None, description="Ignored: the amount is always the lesson's price."
    )
    currency: str | None = Field(
        None,
        pattern=r"^[A-Za-z]{3}$",
        description="When given, the platform currency (another is 400 `currency_not_supported`).",
    )


class ConfirmRequest(RequestBody):
    """Neither field: confirm with the method already on the intent, or just ask Stripe
    for the intent's state (after 3-D Secure)."""

    model_config = examples({"provider_method_id": "pm_1Q2w3E4r5T6y7U8i"}, {})
    # A saved card or a new one, never both (400).
    model_config["json_schema_extra"]["not"] = {
        "required": ["provider_method_id", "payment_method_id"],
        "properties": {"provider_method_id": {"type": "string"},
                       "payment_method_id": {"type": "integer"}},
    }  # fmt: skip

    provider_method_id: ProviderId | None = Field(
        None, description="A Stripe payment method id from Stripe.js (a new card)."
    )
    payment_method_id: Id | None = Field(None, description="A saved card's id.")


class RefundRequest(RequestBody):
    """Without `amount`, the whole of what remains (a student refunds in full only)."""

    model_config = examples({}, {"amount": 500, "reason": "The lesson started late."})

    amount: PositiveMoney | None = Field(
        None, description="Minor units, at most what remains (admins only)."
    )
    reason: text(MAX_REASON_LENGTH) | None = None


class MethodRequest(RequestBody):
    model_config = examples({"provider_method_id": "pm_1Q2w3E4r5T6y7U8i", "make_default": True})

    provider_method_id: ProviderId = Field(description="A Stripe payment method id.")
    make_default: StrictBool = False


class PaymentQuery(PageQuery):
    status: PaymentStatus | None = Field(None, description="Only payments in this status.")


PAYMENT_EXAMPLE = {
    "id": _PAYMENT_ID,
    "status": "succeeded",
    "payment_type": "lesson",
    "amount": 4500,
    "platform_fee": 675,
    "net_amount": 3825,
    "amount_refunded": 0,
    "currency": "usd",
    "provider": "stripe",
    "provider_payment_id": "pi_3Q2w3E4r5T6y7U8i",
    "booking_id": 42,
    "subscription_id": None,
    "card_brand": "visa",
    "card_last4": "4242",
    "failure_code": None,
    "failure_message": None,
    "created_at": "2026-10-25T00:30:00Z",
    "succeeded_at": "2026-10-25T00:30:12Z",
}
REFUND_EXAMPLE = {
    "id": "b2d4e6f8-1a3c-4e5f-8a9b-0c1d2e3f4a5b",
    "amount": 500,
    "currency": "usd",
    "status": "succeeded",
    "reason": "The lesson started late.",
    "provider_refund_id": "re_3Q2w3E4r5T6y7U8i",
    "created_at": "2026-10-26T09:00:00Z",
}


class PaymentAnswer(Answer):
    model_config = examples(PAYMENT_EXAMPLE)

    id: UUID = row_uuid()
    status: PaymentStatusShown = Field(
        validation_alias=AliasChoices("display_status", "status"),
        description="`requires_action`: a pending payment waiting for 3-D Secure.",
    )
    payment_type: PaymentType
    amount: Money
    platform_fee: Money
    net_amount: Money
    amount_refunded: Money
    currency: str
    provider: str
    provider_payment_id: str | None
    booking_id: int | None
    subscription_id: int | None
    card_brand: str | None
    card_last4: str | None
    failure_code: str | None
    failure_message: str | None = Field(description="The issuer's message when declined.")
    created_at: Timestamp
    succeeded_at: Timestamp | None


class PaymentStepAnswer(PaymentAnswer):
    """A payment with the client secret Stripe.js needs for its next step, if any."""

    model_config = examples(
        {**PAYMENT_EXAMPLE, "status": "requires_action", "succeeded_at": None,
         "client_secret": "pi_3Q2w3E4r5T6y7U8i_secret_Z9x8"}
    )  # fmt: skip

    client_secret: str | None = Field(
        description="While the status is pending or requires_action: for Stripe.js."
    )

    @classmethod
    def of_step(cls, step: PaymentStep) -> PaymentStepAnswer:
        return cls(
            **dict(PaymentAnswer.model_validate(step.payment)), client_secret=step.client_secret
        )


class RefundAnswer(Answer):
    model_config = examples(REFUND_EXAMPLE)

    id: UUID = row_uuid()
    amount: Money
    currency: str
    status: RefundStatus
    reason: str | None
    provider_refund_id: str | None
    created_at: Timestamp


class PaymentDetail(PaymentAnswer):
    model_config = examples(
        {**PAYMENT_EXAMPLE, "status": "partially_refunded", "amount_refunded": 500,
         "refunds": [REFUND_EXAMPLE]}
    )  # fmt: skip

    refunds: list[RefundAnswer]


class RefundMade(PaymentAnswer):
    """The refunded payment, with the refund just made."""

    model_config = examples(
        {**PAYMENT_EXAMPLE, "status": "partially_refunded", "amount_refunded": 500,
         "refund": REFUND_EXAMPLE}
    )  # fmt: skip

    refund: RefundAnswer

    @classmethod
    def of_refund(cls, refund: Refund) -> RefundMade:
        payment = PaymentAnswer.model_validate(refund.payment)
        return cls(**dict(payment), refund=RefundAnswer.model_validate(refund))


class MethodAnswer(Answer):
    model_config = examples(
        {
            "id": 7,
            "card_brand": "visa",
            "card_last4": "4242",
            "exp_month": 12,
            "exp_year": 2034,
            "is_default": True,
        }
    )

    id: int
    card_brand: str
    card_last4: str
    exp_month: int
    exp_year: int
    is_default: bool


class SetupAnswer(Answer):
    """A SetupIntent for Stripe.js `confirmCardSetup`."""

    model_config = examples({"id": "seti_1Q2w3E4r", "client_secret": "seti_1Q2w3E4r_secret_x"})

    id: str
    client_secret: str
