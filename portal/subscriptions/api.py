"""Subscriptions over JSON: the plans on offer, and a student's own subscription.

`GET /plans/` is open to anybody; everything else is the signed-in student's (403 for
tutors and admins). A plan is named by `plan_id` or by its slug (`plan`).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_login import current_user

from portal.accounts.decorators import student_required
from portal.api import api_blueprint, paginate
from portal.contract.schemas import EmptyBody, Page, PageQuery
from portal.contract.spec import operation
from portal.db import unit_of_work
from portal.errors import NotFound
from portal.subscriptions import services
from portal.subscriptions.models import Plan, Subscription
from portal.subscriptions.plans import plan_by_id_or_slug
from portal.subscriptions.quota import check_lesson_quota
from portal.subscriptions.schemas import (
    CancelRequest,
    ChangePlanRequest,
    PlanAnswer,
    PlanChoice,
    QuotaAnswer,
    SubscribeRequest,
    SubscriptionAnswer,
)

bp = api_blueprint("subscriptions_api", __name__, "/subscriptions")


def _answer(subscription: Subscription, client_secret: str | None = None) -> SubscriptionAnswer:
    return SubscriptionAnswer.of(
        subscription, check_lesson_quota(subscription.student), client_secret
    )


def _plan(choice: PlanChoice) -> Plan:
    return plan_by_id_or_slug(plan_id=choice.plan_id, slug=choice.plan)


@bp.get("/plans/")
@operation({200: Page[PlanAnswer]})
def plans(query: PageQuery):
    """List the plans on offer

    Cheapest first.
    """
    select = sa.select(Plan).where(Plan.is_active.is_(True)).order_by(Plan.price, Plan.id)
    return paginate(select, PlanAnswer.model_validate, page=query)


@bp.post("/")
@student_required
@operation({201: SubscriptionAnswer}, errors=(404, 409, 502), idempotent=True)
def create(json: SubscribeRequest):
    """Subscribe to a plan

    Charges the first invoice now with a saved card. When the bank asks for 3-D Secure the
    status is `incomplete` with `client_secret` for Stripe.js. A declined card is 409
    `card_declined` (nothing is kept); a second live subscription is 409
    `already_subscribed`; an archived plan 409 `plan_archived`; no saved card 400
    `no_payment_method`; an unknown plan or card 404.
    """
    with unit_of_work():
        created = services.create_subscription(
            current_user, _plan(json), payment_method_id=json.payment_method_id
        )
        answer = _answer(created.subscription, created.client_secret)
    return answer, 201


@bp.get("/current/")
@student_required
@operation({200: SubscriptionAnswer}, errors=(404,))
def current():
    """The student's live subscription

    Trialing, active, past due or incomplete; 404 when there is none.
    """
    subscription = services.current_subscription(current_user)
    if subscription is None:
        raise NotFound("You have no subscription.")
    return _answer(subscription, services.pending_client_secret(subscription))


@bp.post("/cancel/")
@student_required
@operation({200: SubscriptionAnswer}, errors=(404, 409, 502))
def cancel(json: CancelRequest):
    """Cancel the subscription

    At the end of the period (`cancel_at_period_end`), or now with `immediately`.
    """
    with unit_of_work():
        subscription = services.cancel_subscription(current_user, immediately=json.immediately)
        answer = _answer(subscription)
    return answer


@bp.post("/reactivate/")
@student_required
@operation({200: SubscriptionAnswer}, errors=(404, 409, 502))
def reactivate(json: EmptyBody):
    """Undo a cancellation at the period end

    409 `not_cancelling` when there is nothing to undo.
    """
    with unit_of_work():
        answer = _answer(services.reactivate_subscription(current_user))
    return answer


@bp.post("/change/")
@student_required
@operation({200: SubscriptionAnswer}, errors=(404, 409, 502), idempotent=True)
def change(json: ChangePlanRequest):
    """Change plan

    An upgrade applies now and Stripe charges the prorated difference at once; a
    downgrade waits for the renewal, which bills the new price (`next_plan` until then).
    The same plan is 409 `same_plan`.
    """
    with unit_of_work():
        answer = _answer(services.change_plan(current_user, _plan(json)))
    return answer


@bp.get("/quota/")
@student_required
@operation({200: QuotaAnswer})
def quota():
    """The lessons left in the current period"""
    return QuotaAnswer.model_validate(check_lesson_quota(current_user))
