"""The bookings API's requests and answers (`/api/v1/bookings/`)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BeforeValidator, Field, StrictBool

from portal.bookings.models import Booking, BookingStatus
from portal.bookings.services import ALLOWED_DURATIONS
from portal.contract.schemas import Answer, Id, Money, RequestBody, Timestamp, digits, examples

# A length in minutes; a string of digits ("60") is taken too, as it always was.
Duration = Annotated[Literal[ALLOWED_DURATIONS], BeforeValidator(digits)]


class BookingRequest(RequestBody):
    model_config = examples(
        {"tutor_id": 3, "starts_at": "2026-11-02T15:00:00Z", "duration_minutes": 60},
        {"tutor_id": 3, "starts_at": "2026-11-02T15:00:00+01:00", "duration_minutes": 45,
         "use_subscription": True},
    )  # fmt: skip

    tutor_id: Id
    starts_at: AwareDatetime = Field(
        description="ISO 8601 with a zone (Z or an offset); in the future, at most a year ahead."
    )
    duration_minutes: Duration
    use_subscription: StrictBool = Field(
        False,
        description="Take the lesson from the student's subscription: scheduled at once, "
        "with no payment (409 `quota_exhausted` / `no_active_subscription` otherwise).",
    )


class BookingAnswer(Answer):
    model_config = examples(
        {
            "id": 42,
            "tutor_id": 3,
            "student_id": 5,
            "starts_at": "2026-11-02T15:00:00Z",
            "duration_minutes": 60,
            "price": 4500,
            "currency": "usd",
            "status": "pending_payment",
            "payment_id": None,
            "subscription_id": None,
        }
    )

    id: int
    tutor_id: int
    student_id: int
    starts_at: Timestamp
    duration_minutes: int
    price: Money = Field(description="round_half_up(hourly_rate × minutes / 60).")
    currency: str
    status: BookingStatus
    payment_id: UUID | None = Field(None, description="The latest payment attempt's id.")
    subscription_id: int | None = Field(description="Set when a subscription covers it.")

    @classmethod
    def of(cls, booking: Booking, payment_id: UUID | None) -> BookingAnswer:
        return cls.model_validate(booking).model_copy(update={"payment_id": payment_id})
