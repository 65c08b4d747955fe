"""The payouts API's requests and answers (`/api/v1/payouts/`, `/api/v1/admin/payouts/`)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import AliasChoices, Field, RootModel, StrictBool, StringConstraints

from portal.contract.schemas import (
    BLANK,
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
    shaped,
    text,
    trimmed,
)
from portal.payouts.admin_queue import MAX_TUTOR_FILTER
from portal.payouts.destinations import STRIPE_ACCOUNT_RE
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


# The shapes the destinations service checks, each with its own message naming the field;
# past its shape a value meets rules no pattern states (a real country, an IBAN's and a
# routing number's check digits, details complete with what is stored).
_STRIPE_ACCOUNT = STRIPE_ACCOUNT_RE.pattern.removeprefix("^").removesuffix("$")
_SPACER = f"(?:{BLANK}|-)*"
BankText = text(64)
Country = shaped(64, trimmed("[A-Za-z]{2}"))
AccountNumber = shaped(64, f"^{_SPACER}(?:[0-9]{_SPACER}){{4,17}}$")
RoutingNumber = shaped(64, trimmed("[0-9]{9}"))
StripeAccount = shaped(64, f"^$|{trimmed(_STRIPE_ACCOUNT)}")
# Collapsed to single spaces, a holder's or a bank's name keeps 2 to 100 characters.
Name = said(100, at_least=2)


class SettingsRequest(RequestBody):
    """Any of the fields; `null` or absent leaves a field as it is. Bank details are
    either an IBAN or a US account and routing number; a change may give only some of
    them, but the result must be complete. Every field is checked before anything is
    written."""

    model_config = examples(
        {"payout_threshold": 5000, "auto_payout_enabled": True},
        {"bank_account_holder": "Ana Lima", "bank_name": "Deutsche Bank",
         "bank_iban": "DE89 3704 0044 0532 0130 00"},
        {"stripe_account_id": "acct_1Nv0FGQ9RKHgCVdK"},
    )  # fmt: skip

    payout_threshold: PositiveMoney | None = Field(
        None, description="Auto-payout threshold in minor units, at least the minimum payout."
    )
    auto_payout_enabled: StrictBool | None = None
    bank_account_holder: Name | None = Field(None, description="2 to 100 characters.")
    bank_name: Name | None = Field(None, description="2 to 100 characters.")
    bank_country: Country | None = Field(
        None, description="ISO 3166 two-letter code; a new IBAN's own country when left out."
    )
    bank_iban: BankText | None = Field(None, description="Spaces allowed; check digits checked.")
    bank_account_number: AccountNumber | None = Field(
        None, description="A US account's 4 to 17 digits (spaces and dashes allowed)."
    )
    bank_routing_number: RoutingNumber | None = Field(
        None, description="The 9-digit ABA number; its check digit checked."
    )
    stripe_account_id: StripeAccount | None = Field(
        None,
        description="`acct_` and 16 letters and digits, for `stripe` payouts; "
        '`null` or `""` removes the connected account.',
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
