"""Plans: what a subscription gives (lessons a month, a trial) and what it costs.

A plan's price never changes. To charge something else, make a new plan and archive the
old one: archiving hides a plan from new subscribers while its subscriptions go on
renewing at the price they signed up for. Plans are never deleted, so every
subscription, period and invoice keeps the plan it was sold under.

Creating a plan makes its product and recurring price at Stripe first (localstripe
offers a Plan instead of a Price), with an idempotency key derived from what is asked
for, then the row: a retried command reuses the Stripe objects of the first attempt.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from portal.db import parse_id, utcnow
from portal.errors import Conflict, NotFound, ValidationError
from portal.extensions import db
from portal.money import AmountError, check_amount, round_half_up
from portal.providers import get_provider
from portal.subscriptions.models import Plan, PlanInterval

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
MAX_NAME = 120
MAX_LESSONS_PER_MONTH = 100
MAX_TRIAL_DAYS = 90
MAX_FEATURES = 10
MAX_FEATURE_LENGTH = 200


def get_plans(*, include_archived: bool = False) -> list[Plan]:
    """The plans on offer, cheapest first (every plan, archived last, when asked)."""
    query = sa.select(Plan).order_by(Plan.is_active.desc(), Plan.price, Plan.id)
    if not include_archived:
        query = query.where(Plan.is_active.is_(True))
    return list(db.session.scalars(query))


def create_plan(
    slug: object,
    name: object,
    price: object,
    lessons_per_month: object,
    interval: object = PlanInterval.MONTH,
    trial_days: object = 0,
    features: Iterable[object] = (),
    currency: str | None = None,
) -> Plan:
    """Make a plan here and its product and recurring price at Stripe.

    Every argument is checked before anything is written or sent; a slug in use, even by
    an archived plan, is a 409 `slug_taken`.
    """
    values = _checked(slug, name, price, lessons_per_month, interval, trial_days, features)
    values["currency"] = _checked_currency(currency)
    if db.session.scalar(sa.select(Plan.id).where(Plan.slug == values["slug"])):
        raise _slug_taken(values["slug"])
    stripe_price = get_provider().create_recurring_price(
        name=values["name"],
        amount=values["price"],
        currency=values["currency"],
        interval=values["interval"],
        idempotency_key=_idempotency_key(values),
        metadata={"plan_slug": values["slug"]},
    )
    plan = Plan(
        **values,
        provider_product_id=stripe_price.product_id,
        provider_price_id=stripe_price.price_id,
        is_active=True,
    )
    db.session.add(plan)
    try:
        db.session.flush()
    except IntegrityError as exc:  # the same slug made at the same moment; the caller
        raise _slug_taken(values["slug"]) from exc  # rolls back its unit of work
    return plan


def archive_plan(slug: object) -> Plan:
    """Take a plan off sale; its subscriptions renew on it as before. 409 if archived."""
    plan = _find(slug=slug, lock=True)
    if not plan.is_active:
        raise Conflict(f"The plan {plan.slug} is already archived.", code="plan_archived")
    plan.is_active = False
    plan.archived_at = utcnow()
    db.session.flush()
    return plan


def plan_by_id_or_slug(
    *, plan_id: object = None, slug: object = None, allow_archived: bool = False
) -> Plan:
    """The plan a student asked for, by id (`plan_id`) or slug (`plan`).

    Neither, or a malformed one, is a 400; an unknown plan a 404; an archived one a 409
    `plan_archived` unless `allow_archived` (an admin looking at history).
    """
    if plan_id is None and slug is None:
        raise ValidationError("Choose a plan.", fields={"plan_id": ["Choose a plan."]})
    plan = _find(plan_id=plan_id, slug=slug)
    if not plan.is_active and not allow_archived:
        raise Conflict(
            f"The plan {plan.name} is no longer offered. Choose another plan.",
            code="plan_archived",
            fields={"plan_id" if plan_id is not None else "plan": ["No longer offered."]},
        )
    return plan


def lessons_per_period(plan: Plan) -> int:
    return plan.lessons_per_month * (12 if plan.interval == PlanInterval.YEAR else 1)


def price_per_lesson(plan: Plan) -> int:
    """What one lesson of the plan costs, rounded half up (the plan's price spread over
    the lessons of one billing period)."""
    return round_half_up(Decimal(plan.price) / lessons_per_period(plan))


def _find(*, plan_id: object = None, slug: object = None, lock: bool = False) -> Plan:
    query = sa.select(Plan)
    if plan_id is not None:
        number = parse_id(plan_id)
        if number is None:
            raise ValidationError(
                "plan_id must be a plan's id.", fields={"plan_id": ["Must be a plan's id."]}
            )
        query = query.where(Plan.id == number)
    else:
        if not isinstance(slug, str) or not SLUG_RE.match(slug):
            raise NotFound("No such plan.")
        query = query.where(Plan.slug == slug)
    plan = db.session.scalar(query.with_for_update() if lock else query)
    if plan is None:
        raise NotFound("No such plan.")
    return plan


def _checked(slug, name, price, lessons_per_month, interval, trial_days, features) -> dict:
    errors: dict[str, list[str]] = {}
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        errors["slug"] = ["Lower-case letters, digits and dashes, at most 64."]
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME:
        errors["name"] = [f"Give the plan a name of at most {MAX_NAME} characters."]
    try:
        price = check_amount(price, name="price")
    except AmountError as exc:
        errors["price"] = [str(exc)]
    lessons = _whole(lessons_per_month, 1, MAX_LESSONS_PER_MONTH, "lessons_per_month", errors)
    trial = _whole(trial_days, 0, MAX_TRIAL_DAYS, "trial_days", errors)
    if interval not in tuple(PlanInterval):
        errors["interval"] = ["month or year."]
    lines = _checked_features(features, errors)
    if errors:
        raise ValidationError("Check the plan's details.", fields=errors)
    return {
        "slug": slug,
        "name": name,
        "price": price,
        "lessons_per_month": lessons,
        "interval": str(PlanInterval(interval)),
        "trial_days": trial,
        "features": lines,
    }


def _whole(value: object, low: int, high: int, name: str, errors: dict) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    errors[name] = [f"A whole number from {low} to {high}."]
    return 0


def _checked_features(features: Iterable[object], errors: dict) -> list[str]:
    if isinstance(features, str | bytes):
        errors["features"] = ["A list of lines."]
        return []
    lines = [f.strip() if isinstance(f, str) else None for f in features]
    if any(line is None or len(line) > MAX_FEATURE_LENGTH for line in lines):
        errors["features"] = [f"Each feature is text of at most {MAX_FEATURE_LENGTH} characters."]
    elif len([line for line in lines if line]) > MAX_FEATURES:
        errors["features"] = [f"At most {MAX_FEATURES} features."]
    return [line for line in lines if line]


def _checked_currency(currency: str | None) -> str:
    platform = current_app.config["PLATFORM_CURRENCY"]
    if currency is not None and currency != platform:
        raise ValidationError(
            f"Plans are priced in {platform}.", fields={"currency": [f"Only {platform}."]}
        )
    return platform


def _idempotency_key(values: dict) -> str:
    digest = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:24]
    return f"plan:{values['slug']}:{digest}"


def _slug_taken(slug: str) -> Conflict:
    return Conflict(
        f"A plan with the slug {slug} exists. Plans are never renamed: choose a new slug.",
        code="slug_taken",
        fields={"slug": ["In use."]},
    )
