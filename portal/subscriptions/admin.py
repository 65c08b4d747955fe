"""The admin's plans (create, archive) and subscriptions (filter, counts, detail, cancel now)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for

from portal.accounts.decorators import admin_required
from portal.audit.services import record
from portal.db import MAX_ID, unit_of_work
from portal.errors import Conflict, NotFound, PortalError
from portal.extensions import db
from portal.forms import apply_field_errors
from portal.input import choice_filter, int_filter
from portal.pagination import Page
from portal.rendering import render_page
from portal.subscriptions import plans, reports, services
from portal.subscriptions.forms import PlanForm
from portal.subscriptions.models import Plan, Subscription, SubscriptionStatus

bp = Blueprint("subscriptions_admin", __name__, url_prefix="/admin")

STATUSES = [s.value for s in SubscriptionStatus]


@bp.get("/plans")
@admin_required
def plans_index():
    return _plans_page(PlanForm(formdata=None))


def _plans_page(form: PlanForm, status: int = 200):
    return render_page(
        "subscriptions/admin_plans.html",
        {
            "form": form,
            "plans": plans.get_plans(include_archived=True),
            "subscribers": reports.subscribers_by_plan(),
            "price_per_lesson": plans.price_per_lesson,
        },
        http_status=status,
    )


@bp.post("/plans")
@admin_required
def create_plan():
    form = PlanForm()
    if not form.validate():
        return _plans_page(form, 422)
    try:
        with unit_of_work():
            plan = plans.create_plan(
                form.slug.data.strip(),
                form.name.data,
                form.price.data,
                form.lessons_per_month.data,
                form.interval.data,
                form.trial_days.data or 0,
                form.feature_lines(),
            )
            record("plan.created", object_type="plan", object_id=plan.id, after=_shown(plan))
    except PortalError as exc:
        apply_field_errors(form, exc.fields, exc.message)
        return _plans_page(form, 422)
    flash(f"Plan {plan.name} is on offer.", "success")
    return redirect(url_for(".plans_index"))


@bp.post("/plans/<int:plan_id>/archive")
@admin_required
def archive_plan(plan_id: int):
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        raise NotFound("No such plan.")
    with unit_of_work():
        plans.archive_plan(plan.slug)
        record("plan.archived", object_type="plan", object_id=plan.id, before={"active": True},
               after={"active": False})  # fmt: skip
    flash(f"Plan {plan.name} is archived: its subscribers keep it, nobody new can take it.", "info")
    return redirect(url_for(".plans_index"))


def _shown(plan: Plan) -> dict:
    return {
        "slug": plan.slug,
        "price": plan.price,
        "interval": plan.interval,
        "lessons_per_month": plan.lessons_per_month,
        "trial_days": plan.trial_days,
    }


@bp.get("/subscriptions")
@admin_required
def subscriptions_index():
    status = choice_filter(request.args, "status", STATUSES)
    plan_id = int_filter(request.args, "plan", minimum=1, maximum=MAX_ID)
    query = reports.filtered_subscriptions(status=status, plan_id=plan_id)
    page = Page.of(query, request.args.get("page"), per_page=50)
    return render_page(
        "subscriptions/admin_subscriptions.html",
        {
            "page": page,
            "status_filter": status,
            "plan_filter": plan_id,
            "statuses": STATUSES,
            "plans": plans.get_plans(include_archived=True),
            "summary": reports.summary(),
        },
        fragments={"subscriptions": "subscriptions"},
    )


def _subscription(subscription_id: int) -> Subscription:
    subscription = db.session.get(Subscription, subscription_id)
    if subscription is None:
        raise NotFound("No such subscription.")
    return subscription


@bp.get("/subscriptions/<int:subscription_id>")
@admin_required
def subscription_detail(subscription_id: int):
    subscription = _subscription(subscription_id)
    return render_page(
        "subscriptions/admin_detail.html",
        {
            "subscription": subscription,
            "periods": reports.periods_of(subscription),
            "invoices": reports.invoices_of(subscription),
            "lessons": reports.covered_lessons_of(subscription),
        },
    )


@bp.post("/subscriptions/<int:subscription_id>/cancel")
@admin_required
def cancel_now(subscription_id: int):
    """End a live subscription at once, at Stripe and here; no refund is made."""
    subscription = _subscription(subscription_id)
    if not subscription.is_live:
        raise Conflict("This subscription has already ended.", code="not_live")
    before = {"status": subscription.status}
    with unit_of_work():
        services.cancel_subscription(subscription.student, immediately=True)
        record("subscription.cancelled", object_type="subscription", object_id=subscription.id,
               before=before, after={"status": subscription.status})  # fmt: skip
    flash(f"{subscription.student.name}'s subscription is cancelled now.", "info")
    return redirect(url_for(".subscription_detail", subscription_id=subscription.id))
