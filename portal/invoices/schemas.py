"""The invoices API's requests and answers (`/api/v1/invoices/`, `/api/v1/admin/invoices/`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AliasChoices, AliasPath, BeforeValidator, Field

from portal.contract.schemas import (
    Answer,
    Id,
    Money,
    PositiveMoney,
    RequestBody,
    Timestamp,
    examples,
    row_uuid,
    said,
)
from portal.invoices.models import InvoiceKind, InvoiceStatus
from portal.invoices.services import MAX_LINES, MAX_QUANTITY

InvoiceStatusShown = Literal[(*InvoiceStatus, "overdue")]


def _percent(value: Any) -> Any:
    """A rate read from its NUMERIC(5, 2) column as the API shows it, e.g. "20.00"."""
    return f"{value:.2f}" if isinstance(value, Decimal) else value


TaxRate = Annotated[
    str, BeforeValidator(_percent), Field(pattern=r"^[0-9]{1,2}\.[0-9]{2}$", examples=["20.00"])
]


class InvoicePayRequest(RequestBody):
    model_config = examples({}, {"payment_method_id": 7})

    payment_method_id: Id | None = Field(
        None, description="A saved card to pay with; without it, the card is given at confirm."
    )


class LineRequest(RequestBody):
    model_config = examples({"description": "Course book", "quantity": 2, "unit_price": 1500})

    description: said(255)
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
    unit_price: PositiveMoney = Field(description="Minor units, before tax.")


class DraftRequest(RequestBody):
    """A manual invoice's draft; opening it later fixes its tax and number."""

    model_config = examples(
        {"student_id": 42, "items": [{"description": "Course book", "quantity": 2,
                                      "unit_price": 1500}], "discount": 500}
    )  # fmt: skip

    student_id: Id = Field(description="An active student's id.")
    items: list[LineRequest] = Field(min_length=1, max_length=MAX_LINES)
    discount: Annotated[Money, Field(ge=0)] = Field(
        0, description="Minor units, at most the subtotal."
    )


CREDIT_NOTE_EXAMPLE = {
    "id": 3,
    "number": "CN-2026-000003",
    "amount": 1000,
    "currency": "usd",
    "reason": "The lesson started late.",
    "issued_at": "2026-10-26T09:00:00Z",
    "reverses_id": None,
}


class CreditNoteAnswer(Answer):
    """Money given back against an invoice (negative when it cancels a refund that
    failed: `reverses_id` names the note it reverses)."""

    model_config = examples(CREDIT_NOTE_EXAMPLE)

    id: int
    number: str = Field(description="CN-YYYY-NNNNNN, gapless within a year.")
    amount: Money
    currency: str
    reason: str
    issued_at: Timestamp
    reverses_id: int | None


class InvoiceItemAnswer(Answer):
    model_config = examples(
        {"description": "Lesson with Ada", "quantity": 1, "unit_price": 4500, "total": 4500,
         "booking_id": 42}
    )  # fmt: skip

    description: str
    quantity: int
    unit_price: Money
    total: Money
    booking_id: int | None = Field(description="The lesson of a lesson's invoice.")


class InvoiceAnswer(Answer):
    model_config = examples(
        {
            "id": "7c1e2d3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
            "number": "INV-2026-000042",
            "status": "paid",
            "currency": "usd",
            "subtotal": 4500,
            "discount": 0,
            "tax_rate": "0.00",
            "tax": 0,
            "total": 4500,
            "issued_at": "2026-10-25T00:30:12Z",
            "due_at": "2026-11-08T00:30:12Z",
            "paid_at": "2026-10-25T00:30:12Z",
            "voided_at": None,
            "items": [
                {"description": "Lesson with Ada", "quantity": 1, "unit_price": 4500,
                 "total": 4500, "booking_id": 42}
            ],
            "payment_id": "3f6c1a9e-8d4b-4a51-9d0e-2b7f5c1e4a10",
            "subscription_id": None,
            "kind": "lesson",
            "credited": 1000,
            "credit_notes": [CREDIT_NOTE_EXAMPLE],
        }
    )  # fmt: skip

    id: UUID = row_uuid()
    number: str | None = Field(description="INV-YYYY-NNNNNN once opened; null on a draft.")
    status: InvoiceStatusShown = Field(
        validation_alias=AliasChoices("display_status", "status"),
        description="`overdue`: open past its due date.",
    )
    currency: str
    subtotal: Money
    discount: Money
    tax_rate: TaxRate = Field(description="Percent, fixed when the invoice was opened.")
    tax: Money
    total: Money
    issued_at: Timestamp | None
    due_at: Timestamp | None
    paid_at: Timestamp | None
    voided_at: Timestamp | None
    items: list[InvoiceItemAnswer]
    payment_id: UUID | None = Field(
        validation_alias=AliasChoices(AliasPath("payment", "uuid"), "payment_id"),
        description="The payment's id, as the payments API shows it.",
    )
    subscription_id: int | None
    kind: InvoiceKind
    credited: Money = Field(description="What its credit notes gave back, net of reversals.")
    credit_notes: list[CreditNoteAnswer]
