"""The subscriptions API's requests and answers (`/api/v1/subscriptions/`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, ConfigDict, Field, StrictBool, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from portal.contract.schemas import (
    Answer,
    Id,
    Money,
    RequestBody,
    Timestamp,
    examples,
    omissible,
    text,
)
from portal.subscriptions.models import PlanInterval, Subscription, SubscriptionStatus
from portal.subscriptions.plans import SLUG_RE
from portal.subscriptions.quota import Quota

Slug = Annotated[text(64, min_length=1), Field(pattern=SLUG_RE.pattern, examples=["monthly-4"])]


def _named_once(*values: dict) -> ConfigDict:
    """Examples, and the rule that a plan is named once: by `plan_id` or by `plan`. The
    `oneOf` sits under `allOf`, where it stays a rule of the one object: a `oneOf` at the
    top reads to client generators as a choice between two kinds of body."""
    config = examples(*values)
    config["json_schema_extra"]["allOf"] = [
        {"oneOf": [{"required": ["plan_id"]}, {"required": ["plan"]}]}
    ]
    return config


class PlanChoice(RequestBody):
    """A plan, named by its id or by its slug (one of the two)."""

    model_config = _named_once({"plan_id": 3}, {"plan": "monthly-4"})

    plan_id: Id = omissible("The plan's id (or name it by `plan`).")
    plan: Slug = omissible("The plan's slug (or name it by `plan_id`).")

    @field_validator("plan")
    @classmethod
    def _not_both(cls, slug: str | None, info: ValidationInfo) -> str | None:
        if slug is not None and info.data.get("plan_id") is not None:
            raise PydanticCustomError("plan_named_twice", "Name the plan once: plan_id or plan")
        return slug


class SubscribeRequest(PlanChoice):
    model_config = _named_once({"plan": "monthly-4"}, {"plan_id": 3, "payment_method_id": 7})

    payment_method_id: Id | None = Field(
        None, description="A saved card to charge; the default card when left out."
    )


class ChangePlanRequest(PlanChoice):
    """An upgrade applies now (Stripe charges the prorated difference); a downgrade waits
    for the renewal."""

    model_config = _named_once({"plan_id": 4}, {"plan": "monthly-8"})


class CancelRequest(RequestBody):
    model_config = examples({}, {"immediately": True})

    immediately: StrictBool = Field(
        False, description="End it now rather than at the end of the period."
    )


PLAN_EXAMPLE = {
    "id": 3,
    "slug": "monthly-4",
    "name": "Monthly 4",
    "price": 16000,
    "currency": "usd",
    "interval": "month",
    "lessons_per_month": 4,
    "trial_days": 0,
    "features": ["Any tutor"],
}


class PlanAnswer(Answer):
    model_config = examples(PLAN_EXAMPLE)

    id: int
    slug: str
    name: str
    price: Money = Field(description="Per interval, minor units, tax included.")
    currency: str
    interval: PlanInterval
    lessons_per_month: int
    trial_days: int
    features: Annotated[list[str], BeforeValidator(lambda value: value or [])]


class QuotaAnswer(Answer):
    """The lessons of the current period (all zero, and no booking, without a live
    subscription)."""

    model_config = examples(
        {"lessons_per_month": 4, "lessons_used": 1, "lessons_remaining": 3,
         "period_start": "2026-10-01T00:00:00Z", "period_end": "2026-11-01T00:00:00Z",
         "can_book": True}
    )  # fmt: skip

    lessons_per_month: int
    lessons_used: int
    lessons_remaining: int
    period_start: Timestamp | None
    period_end: Timestamp | None
    can_book: bool = Field(description="Whether a covered lesson can be booked now.")


class SubscriptionAnswer(Answer):
    model_config = examples(
        {
            "id": 12,
            "plan": PLAN_EXAMPLE,
            "status": "active",
            "current_period_start": "2026-10-01T00:00:00Z",
            "current_period_end": "2026-11-01T00:00:00Z",
            "trial_end": None,
            "cancel_at_period_end": False,
            "next_plan": None,
            "lessons_per_month": 4,
            "lessons_used": 1,
            "lessons_remaining": 3,
            "provider_subscription_id": "sub_1Q2w3E4r5T6y7U8i",
        },
        {
            "id": 13,
            "plan": PLAN_EXAMPLE,
            "status": "incomplete",
            "current_period_start": None,
            "current_period_end": None,
            "trial_end": None,
            "cancel_at_period_end": False,
            "next_plan": None,
            "lessons_per_month": 4,
            "lessons_used": 0,
            "lessons_remaining": 0,
            "provider_subscription_id": "sub_1Q2w3E4r5T6y7U8j",
            "client_secret": "pi_3Q2w3E4r5T6y7U8i_secret_Z9x8",
        },
    )

    id: int
    plan: PlanAnswer
    status: SubscriptionStatus
    current_period_start: Timestamp | None
    current_period_end: Timestamp | None
    trial_end: Timestamp | None
    cancel_at_period_end: bool
    next_plan: PlanAnswer | None = Field(description="The plan a downgrade takes at renewal.")
    lessons_per_month: int
    lessons_used: int
    lessons_remaining: int
    provider_subscription_id: str | None
    client_secret: str | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="Only while the bank asks for 3-D Secure on the first payment: for "
        "Stripe.js. Absent otherwise.",
    )

    @classmethod
    def of(
        cls, subscription: Subscription, quota: Quota, client_secret: str | None = None
    ) -> SubscriptionAnswer:
        """The subscription with the lessons of its current period."""
        return cls(
            id=subscription.id,
            plan=PlanAnswer.model_validate(subscription.plan),
            status=subscription.status,
            current_period_start=subscription.current_period_start,
            current_period_end=subscription.current_period_end,
            trial_end=subscription.trial_end,
            cancel_at_period_end=subscription.cancel_at_period_end,
            next_plan=subscription.next_plan and PlanAnswer.model_validate(subscription.next_plan),
            lessons_per_month=quota.lessons_per_month or subscription.plan.lessons_per_month,
            lessons_used=quota.lessons_used,
            lessons_remaining=quota.lessons_remaining,
            provider_subscription_id=subscription.provider_subscription_id,
            client_secret=client_secret,
        )
