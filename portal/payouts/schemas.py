"""The payouts API's requests and answers (`/api/v1/payouts/`, `/api/v1/admin/payouts/`)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import AliasChoices, Field, RootModel, StringConstraints

from portal.contract.schemas import (
    Answer,
    Currency,
    Money,
    PageQuery,
    PositiveMoney,
    RequestBody,
    Timestamp,
    examples,
    row_uuid,
    said,
    text,
)
from portal.payouts.admin_queue import MAX_TUTOR_FILTER
from portal.payouts.models import PayoutMethod, PayoutRequest, PayoutStatus
from portal.payouts.transitions import TRANSITIONS, allowed_actions

# The steps an admin takes; cancelling is the tutor's.
AdminAction = Literal[tuple(name for name in TRANSITIONS if name != "cancel")]
QueueTab = Literal[(*(status.value for status in PayoutStatus), "all")]

PAYOUT_EXAMPLE = {
    "id": "6f1c1c4e-8b9b-4a7e-9d59-1d2f0c7b1a11",
    "amount": 10000,
    "currency": "usd",
    "status": "completed",
    "payout_method": "bank_transfer",
    "destination": "IBAN •••• 3000",
    "failure_reason": None,
    "bank_reference": "SEPA-2026-0042",
    "auto": False,
    "created_at": "2026-10-20T09:15:00Z",
    "approved_at": "2026-10-20T11:02:00Z",
    "processed_at": "2026-10-20T11:05:00Z",
    "completed_at": "2026-10-23T08:40:00Z",
    "failed_at": None,
    "cancelled_at": None,
}
ADMIN_EXAMPLE = {
    **PAYOUT_EXAMPLE,
    "status": "pending",
    "bank_reference": None,
    "approved_at": None,
    "processed_at": None,
    "completed_at": None,
    "tutor_id": 3,
    "provider_transfer_id": None,
    "allowed_actions": ["approve", "fail"],
}


# --- requests -------------------------------------------------------------------------


class NewPayoutRequest(RequestBody):
    model_config = examples({"amount": 10000, "payout_method": "bank_transfer"})

    amount: Money = Field(
        description="Minor units: at least the minimum payout (400 `below_minimum`) and at "
        "most the available balance (409 `insufficient_funds`, also while in debt)."
    )
    payout_method: PayoutMethod = Field(
        description="Its destination must be set up first (400 `missing_details`)."
    )


class PayoutCompleteRequest(RequestBody):
    model_config = examples({"reference": "SEPA-2026-0042"}, {})

    reference: text(120) | None = Field(
        None, description="The bank's reference for the transfer, shown to the tutor."
    )


class PayoutFailRequest(RequestBody):
    model_config = examples({"reason": "The bank returned the transfer: account closed."})

    reason: said(255) = Field(description="Not blank; the tutor reads it.")


class PayoutQueueQuery(PageQuery):
    """Open payouts come oldest first (the work waiting), the others newest first."""

    status: QueueTab = Field(
        PayoutStatus.PENDING.value, description="Payouts in this status, or `all` of them."
    )
    payout_method: PayoutMethod | None = Field(
        None,
        validation_alias=AliasChoices("payout_method", "method"),
        description="Only this method (`method` is read too).",
    )
    tutor: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_TUTOR_FILTER)] | None
    ) = Field(
        None,
        validation_alias=AliasChoices("tutor", "tutor_id"),
        description="A tutor's id, or part of their name or e-mail (`tutor_id` is read too).",
    )


# --- answers --------------------------------------------------------------------------


class PayoutAnswer(Answer):
    """A payout as its tutor sees it."""

    model_config = examples(PAYOUT_EXAMPLE)

    id: UUID = row_uuid()
    amount: PositiveMoney
    currency: Currency
    status: PayoutStatus
    payout_method: PayoutMethod
    destination: str = Field(description="Masked: only the last four characters of an account.")
    failure_reason: str | None = Field(description="Why it failed, for the tutor.")
    bank_reference: str | None = Field(description="The bank's reference, once completed.")
    auto: bool = Field(description="Asked for by the daily auto-payout.")
    created_at: Timestamp
    approved_at: Timestamp | None
    processed_at: Timestamp | None
    completed_at: Timestamp | None
    failed_at: Timestamp | None
    cancelled_at: Timestamp | None


class AdminPayoutAnswer(PayoutAnswer):
    """A payout as admins see it: whose, Stripe's transfer, and the steps open to it."""

    model_config = examples(ADMIN_EXAMPLE)

    tutor_id: int
    provider_transfer_id: str | None = Field(description="The Stripe transfer, once sent.")
    allowed_actions: list[AdminAction]

    @classmethod
    def of(cls, payout: PayoutRequest) -> AdminPayoutAnswer:
        actions = [name for name in allowed_actions(payout.status) if name != "cancel"]
        return cls(
            **dict(PayoutAnswer.model_validate(payout)),
            tutor_id=payout.tutor_id,
            provider_transfer_id=payout.provider_transfer_id,
            allowed_actions=actions,
        )


class PayoutDetail(RootModel[AdminPayoutAnswer | PayoutAnswer]):
    """The admins' view of a payout for an admin, the tutor's for its tutor."""

    model_config = examples(ADMIN_EXAMPLE, PAYOUT_EXAMPLE)
