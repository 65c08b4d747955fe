"""The accounts API's answers (`/api/v1/me/`, `/api/v1/tutors/`, `/api/v1/me/tokens/`)."""

from __future__ import annotations

from pydantic import Field

from portal.accounts.models import Role
from portal.contract.schemas import Answer, Money, Timestamp, examples


class MeAnswer(Answer):
    model_config = examples(
        {"id": 5, "email": "student@m4sh.app", "name": "Sam Student", "role": "student"}
    )

    id: int
    email: str
    name: str
    role: Role


class TutorAnswer(Answer):
    model_config = examples({"id": 3, "name": "Tess Tutor", "hourly_rate": 4500, "currency": "usd"})

    id: int
    name: str
    hourly_rate: Money | None = Field(description="Minor units an hour.")
    currency: str


class TokenAnswer(Answer):
    """An API token as listed: never the token itself."""

    model_config = examples(
        {
            "id": 12,
            "name": "reporting script",
            "created_at": "2026-10-01T08:00:00Z",
            "last_used_at": "2026-10-25T00:30:00Z",
            "expires_at": "2026-12-30T08:00:00Z",
        }
    )

    id: int
    name: str
    created_at: Timestamp
    last_used_at: Timestamp | None = Field(description="Kept to the minute.")
    expires_at: Timestamp
