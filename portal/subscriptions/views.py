"""The student's subscription pages: the plans, subscribing, and "my subscription".

Subscribing and paying a failed invoice again work like the lesson payment page (and
use its script, static/js/billing.js): the page turns a new card into a Stripe id, the
form posts here with htmx, and the answer is the page's status block. When the bank
asks for 3-D Secure the block carries the first invoice's `client_secret`; Stripe.js
completes the step and the form posts again with `after_action=1`, and the server asks
Stripe for the subscription's state. Error states answer 422, the status the portal's
htmx configuration swaps in (base.html). Stripe Checkout in subscription mode is the
other way to subscribe; its subscription arrives by webhook.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user

from portal.accounts.decorators import student_required
from portal.accounts.services import list_tutors
from portal.bookings.forms import EmptyForm
from portal.bookings.services import lesson_price
from portal.errors import NotFound, PortalError
from portal.extensions import db
from portal.payments import cards
from portal.payments.views import stripe_settings
from portal.rendering import render_page
from portal.subscriptions import plans, services
from portal.subscriptions.forms import ChangePlanForm, SubscribeForm
from portal.subscriptions.models import BOOKABLE_STATUSES, Plan, SubscriptionStatus

bp = Blueprint("subscriptions", __name__)

SINGLE_LESSON_MINUTES = 60


@bp.get("/plans")
@student_required
def plans_page():
    if request.args.get("checkout") == "cancelled":
        flash("Checkout was closed and nothing was charged.", "info")
    current = services.current_subscription(current_user)
    offered = plans.get_plans()
    return render_page(
        "subscriptions/plans.html",
        {
            "plans": offered,
            "current": current,
            "single": _single_lesson_prices(),
            "price_per_lesson": plans.price_per_lesson,
            "change_form": ChangePlanForm(offered, formdata=None),
            "button_form": EmptyForm(),
            "stripe": stripe_settings(),
        },
    )


def _single_lesson_prices() -> tuple[int, int] | None:
    """The cheapest and dearest hour booked singly with the tutors on offer."""
    rates = [t.hourly_rate for t in list_tutors() if t.hourly_rate]
    if not rates:
        return None
    return (
        lesson_price(min(rates), SINGLE_LESSON_MINUTES),
        lesson_price(max(rates), SINGLE_LESSON_MINUTES),
    )


def _plan_on_sale(slug: str) -> Plan:
    return plans.plan_by_id_or_slug(slug=slug)


# Subscribing


@bp.get("/plans/<slug>/subscribe")
@student_required
def subscribe_page(slug: str):
    plan = _plan_on_sale(slug)
    if services.current_subscription(current_user) is not None:
        flash("You already have a subscription: change its plan here.", "info")
        return redirect(url_for(".mine"))
    methods = cards.payment_methods_of(current_user)
    return _subscribe_page(plan, SubscribeForm(methods, formdata=None))


@bp.post("/plans/<slug>/subscribe")
@student_required
def subscribe(slug: str):
    plan = _plan_on_sale(slug)
    form = SubscribeForm(cards.payment_methods_of(current_user))
    if request.form.get("after_action") == "1":
        return _after_bank_step(lambda: _subscribe_page(plan, form, error=_not_confirmed()))
    if not form.validate():
        return _subscribe_page(plan, form, status=422)
    try:
        card_id = _chosen_card(form)
        created = services.create_subscription(current_user, plan, payment_method_id=card_id)
        db.session.commit()
    except PortalError as exc:
        db.session.rollback()
        return _subscribe_page(plan, form, error=exc, status=422)
    if created.client_secret:
        return _subscribe_page(plan, form, client_secret=created.client_secret)
    return _done(f"You are subscribed to {plan.name}.")


def _chosen_card(form: SubscribeForm) -> int:
    if form.is_new_card:
        return cards.add_payment_method(current_user, form.provider_method_id.data).id
    return int(form.card.data)


def _after_bank_step(failed):
    """After 3-D Secure in the browser: what does Stripe say now?"""
    subscription = services.current_subscription(current_user)
    if subscription is None:
        raise NotFound("You have no subscription.")
    try:
        services.refresh_subscription(subscription)
        db.session.commit()
    except PortalError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _done(None)
    if subscription.status in BOOKABLE_STATUSES:
        return _done(f"Paid. You are subscribed to {subscription.plan.name}.")
    return failed()


def _not_confirmed() -> PortalError:
    return PortalError(
        "Your bank did not confirm the payment. Try again, or pay with another card.",
        code="card_declined",
    )


def _done(message: str | None):
    if message:
        flash(message, "success")
    target = url_for(".mine")
    if request.headers.get("HX-Request"):
        return "", 200, {"HX-Redirect": target}
    return redirect(target)


def _subscribe_page(plan, form, *, client_secret=None, error=None, status=200):
    return render_page(
        "subscriptions/subscribe.html",
        {
            "plan": plan,
            "form": form,
            "client_secret": client_secret,
            "error": error,
            "price_per_lesson": plans.price_per_lesson(plan),
            "button_form": EmptyForm(),
            "stripe": stripe_settings(),
        },
        fragments={"pay-status": "status"},
        http_status=status,
    )


@bp.post("/plans/<slug>/checkout")
@student_required
def checkout(slug: str):
    plan = _plan_on_sale(slug)
    url = services.create_checkout_subscription(
        current_user,
        plan,
        success_url=url_for(".checkout_return", _external=True),
        cancel_url=url_for(".plans_page", checkout="cancelled", _external=True),
    )
    db.session.commit()
    return redirect(url, code=303)


@bp.get("/subscription/checkout-return")
@student_required
def checkout_return():
    flash(
        "Checkout is finished. Your subscription shows here as soon as Stripe confirms it, "
        "usually within seconds.",
        "success",
    )
    return redirect(url_for(".mine"))


# My subscription


@bp.get("/subscription")
@student_required
def mine():
    subscription = services.current_subscription(current_user)
    if subscription is None:
        return render_page("subscriptions/none.html", {"plans": plans.get_plans()})
    return _mine_page(subscription)


def _mine_page(subscription, *, pay_form=None, client_secret=None, error=None, status=200):
    methods = cards.payment_methods_of(current_user)
    others = [
        p
        for p in plans.get_plans()
        if p.id != subscription.plan_id and p.interval == subscription.plan.interval
    ]
    return render_page(
        "subscriptions/mine.html",
        {
            "subscription": subscription,
            "plan": subscription.plan,
            "renewal": _renewal(subscription),
            "change_form": ChangePlanForm(others, formdata=None),
            "form": pay_form or SubscribeForm(methods, formdata=None),
            "client_secret": client_secret,
            "error": error,
            "button_form": EmptyForm(),
            "stripe": stripe_settings(),
        },
        fragments={"pay-status": "status"},
        http_status=status,
    )


def _renewal(subscription) -> dict | None:
    """When the next charge falls due and how much it is (None when none will come)."""
    if subscription.cancel_at_period_end or subscription.status in (
        SubscriptionStatus.INCOMPLETE,
        SubscriptionStatus.PAST_DUE,  # what is owed now is the open invoice
    ):
        return None
    plan = subscription.next_plan or subscription.plan
    due = subscription.trial_end if subscription.status == "trialing" else None
    due = due or subscription.current_period_end
    return {"at": due, "amount": plan.price, "currency": plan.currency, "plan": plan}


@bp.get("/subscription/cancel")
@student_required
def cancel_page():
    subscription = services.live_subscription(current_user)
    return render_page(
        "subscriptions/cancel.html", {"subscription": subscription, "form": EmptyForm()}
    )


@bp.post("/subscription/cancel")
@student_required
def cancel():
    form = EmptyForm()
    if not form.validate():
        return redirect(url_for(".cancel_page"))
    try:
        subscription = services.cancel_subscription(current_user)
        db.session.commit()
    except PortalError as exc:
        return _refused(exc)
    if subscription.is_live and subscription.current_period_end:
        end = subscription.current_period_end
        flash(
            f"Cancelled: your subscription ends on {end:%d %B %Y} and is not charged again. "
            "Until then your lessons are yours, and you can change your mind.",
            "info",
        )
    else:
        flash("Your subscription is cancelled.", "info")
    return redirect(url_for(".mine"))


@bp.post("/subscription/reactivate")
@student_required
def reactivate():
    try:
        subscription = services.reactivate_subscription(current_user)
        db.session.commit()
    except PortalError as exc:
        return _refused(exc)
    flash(f"Welcome back: {subscription.plan.name} renews as before.", "success")
    return redirect(url_for(".mine"))


@bp.post("/subscription/change")
@student_required
def change():
    offered = plans.get_plans()
    form = ChangePlanForm(offered)
    if not form.validate():
        flash(" ".join(form.plan_id.errors) or "Choose a plan.", "error")
        return redirect(url_for(".mine"))
    try:
        plan = plans.plan_by_id_or_slug(plan_id=form.plan_id.data)
        subscription = services.change_plan(current_user, plan)
        db.session.commit()
    except PortalError as exc:
        return _refused(exc)
    if subscription.next_plan_id and subscription.current_period_end:
        end = subscription.current_period_end
        flash(f"From {end:%d %B %Y} your plan is {plan.name}.", "success")
    else:
        flash(f"Your plan is now {subscription.plan.name}.", "success")
    return redirect(url_for(".mine"))


def _refused(exc: PortalError):
    """An action the subscription's state does not allow is said on its page; having no
    subscription at all stays a 404."""
    db.session.rollback()
    if isinstance(exc, NotFound):
        raise exc
    flash(exc.message, "error")
    return redirect(url_for(".mine"))


@bp.post("/subscription/pay")
@student_required
def pay_again():
    subscription = services.live_subscription(current_user)
    form = SubscribeForm(cards.payment_methods_of(current_user))
    if request.form.get("after_action") == "1":
        return _after_bank_step(lambda: _mine_page(subscription, error=_not_confirmed()))
    if not form.validate():
        return _mine_page(subscription, pay_form=form, status=422)
    try:
        card_id = _chosen_card(form)
        secret = services.retry_open_invoice(current_user, payment_method_id=card_id)
        db.session.commit()
    except PortalError as exc:
        db.session.rollback()
        subscription = db.session.get(type(subscription), subscription.id)
        return _mine_page(subscription, pay_form=form, error=exc, status=422)
    if secret:
        return _mine_page(subscription, pay_form=form, client_secret=secret)
    return _done("Paid. Your subscription is active again.")
