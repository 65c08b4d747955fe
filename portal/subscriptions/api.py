"""Subscriptions over JSON: the plans on offer, and a student's own subscription.

`GET /plans/` is open to anybody; everything else is the signed-in student's (403 for
tutors and admins). A plan is named by `plan_id` or by its slug (`plan`).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import jsonify
from flask_login import current_user

from portal.accounts.decorators import student_required
from portal.api import api_blueprint, iso, json_body, paginate
from portal.db import unit_of_work
from portal.errors import NotFound, ValidationError
from portal.subscriptions import services
from portal.subscriptions.models import Plan, Subscription
from portal.subscriptions.plans import plan_by_id_or_slug
from portal.subscriptions.quota import Quota, check_lesson_quota

bp = api_blueprint("subscriptions_api", __name__, "/subscriptions")


def plan_json(plan: Plan) -> dict:
    return {
        "id": plan.id,
        "slug": plan.slug,
        "name": plan.name,
        "price": plan.price,
        "currency": plan.currency,
        "interval": plan.interval,
        "lessons_per_month": plan.lessons_per_month,
        "trial_days": plan.trial_days,
        "features": list(plan.features or []),
    }


def quota_json(quota: Quota) -> dict:
    return {
        "lessons_per_month": quota.lessons_per_month,
        "lessons_used": quota.lessons_used,
        "lessons_remaining": quota.lessons_remaining,
        "period_start": iso(quota.period_start),
        "period_end": iso(quota.period_end),
        "can_book": quota.can_book,
    }


def subscription_json(subscription: Subscription, client_secret: str | None = None) -> dict:
    quota = check_lesson_quota(subscription.student)
    body = {
        "id": subscription.id,
        "plan": plan_json(subscription.plan),
        "status": subscription.status,
        "current_period_start": iso(subscription.current_period_start),
        "current_period_end": iso(subscription.current_period_end),
        "trial_end": iso(subscription.trial_end),
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "next_plan": plan_json(subscription.next_plan) if subscription.next_plan else None,
        "lessons_per_month": quota.lessons_per_month or subscription.plan.lessons_per_month,
        "lessons_used": quota.lessons_used,
        "lessons_remaining": quota.lessons_remaining,
        "provider_subscription_id": subscription.provider_subscription_id,
    }
    if client_secret:
        body["client_secret"] = client_secret
    return body


def _plan_from(data: dict) -> Plan:
    if "plan_id" in data and "plan" in data:
        raise ValidationError(
            "Name the plan once: plan_id or plan.", fields={"plan": ["Give one of the two."]}
        )
    plan_id = data.get("plan_id")
    if isinstance(plan_id, bool) or (plan_id is not None and not isinstance(plan_id, int)):
        raise ValidationError("plan_id must be an integer.", fields={"plan_id": ["Integer."]})
    return plan_by_id_or_slug(plan_id=plan_id, slug=data.get("plan"))


@bp.get("/plans/")
def plans():
    query = sa.select(Plan).where(Plan.is_active.is_(True)).order_by(Plan.price, Plan.id)
    return jsonify(paginate(query, plan_json))


@bp.post("/")
@student_required
def create():
    data = json_body({"plan_id", "plan", "payment_method_id"})
    with unit_of_work():
        plan = _plan_from(data)
        created = services.create_subscription(
            current_user, plan, payment_method_id=data.get("payment_method_id")
        )
        body = subscription_json(created.subscription, created.client_secret)
    return jsonify(body), 201


@bp.get("/current/")
@student_required
def current():
    subscription = services.current_subscription(current_user)
    if subscription is None:
        raise NotFound("You have no subscription.")
    return jsonify(subscription_json(subscription, services.pending_client_secret(subscription)))


@bp.post("/cancel/")
@student_required
def cancel():
    data = json_body({"immediately"}, required=False)
    immediately = data.get("immediately", False)
    if not isinstance(immediately, bool):
        raise ValidationError(
            "immediately must be true or false.", fields={"immediately": ["A boolean."]}
        )
    with unit_of_work():
        subscription = services.cancel_subscription(current_user, immediately=immediately)
        body = subscription_json(subscription)
    return jsonify(body)


@bp.post("/reactivate/")
@student_required
def reactivate():
    json_body(set(), required=False)
    with unit_of_work():
        body = subscription_json(services.reactivate_subscription(current_user))
    return jsonify(body)


@bp.post("/change/")
@student_required
def change():
    data = json_body({"plan_id", "plan"})
    with unit_of_work():
        plan = _plan_from(data)
        body = subscription_json(services.change_plan(current_user, plan))
    return jsonify(body)


@bp.get("/quota/")
@student_required
def quota():
    return jsonify(quota_json(check_lesson_quota(current_user)))
