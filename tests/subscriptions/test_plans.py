"""Plans: made here and at Stripe (localstripe: a Plan; Stripe: a Price, recorded), archived,
looked up for subscribing; bad input changes nothing here or at Stripe."""

from __future__ import annotations

import pytest

from portal.errors import Conflict, NotFound, ValidationError
from portal.extensions import db
from portal.providers.base import ProviderRejected
from portal.subscriptions import plans
from portal.subscriptions.models import Plan
from tests.subscriptions.plans_support import make_plan


def _count() -> int:
    return db.session.query(Plan).count()


@pytest.mark.stripe
def test_a_plan_is_a_product_and_a_plan_at_localstripe(localstripe):
    plan = plans.create_plan(
        "monthly-4", "Four a month", 20000, 4, trial_days=7, features=["Any tutor", " "]
    )
    db.session.commit()
    assert (plan.price, plan.currency, plan.interval, plan.lessons_per_month) == (
        20000, "usd", "month", 4)  # fmt: skip
    assert plan.features == ["Any tutor"] and plan.trial_days == 7 and plan.is_active
    stripe_plan = localstripe.get(f"/v1/plans/{plan.provider_price_id}")
    assert plan.provider_price_id.startswith("plan_")
    assert (stripe_plan["amount"], stripe_plan["currency"], stripe_plan["interval"]) == (
        20000, "usd", "month")  # fmt: skip
    assert stripe_plan["product"] == plan.provider_product_id
    product = localstripe.get(f"/v1/products/{plan.provider_product_id}")
    assert product["name"] == "Four a month"
    assert product["metadata"] == {"plan_slug": "monthly-4"}


@pytest.mark.stripe
def test_at_stripe_a_plan_is_a_product_and_a_recurring_price(stripe_replay):
    stripe_replay.answer("POST", "/v1/prices", "price_recurring_month")
    plan = plans.create_plan("monthly-4", "Four a month", 20000, 4)
    db.session.commit()
    assert plan.provider_price_id == "price_1QZr8mKx3oV2nQeR7monthly4"
    assert plan.provider_product_id.startswith("prod_")
    [sent] = stripe_replay.seen("POST", "/v1/prices")
    assert sent.form["product"] == plan.provider_product_id
    assert sent.form["unit_amount"] == "20000" and sent.form["currency"] == "usd"
    assert sent.form["recurring[interval]"] == "month"
    assert sent.form["metadata[plan_slug]"] == "monthly-4"
    assert sent.headers["Idempotency-Key"].startswith("plan:monthly-4:")
    assert sent.headers["Idempotency-Key"].endswith(":price")
    [product] = stripe_replay.seen("POST", "/v1/products")
    assert product.headers["Idempotency-Key"].endswith(":product")
    assert not stripe_replay.seen("POST", "/v1/plans")


@pytest.mark.stripe
def test_a_price_stripe_refuses_is_an_error_not_a_plan(stripe_replay):
    stripe_replay.answer("POST", "/v1/prices", "price_invalid_amount", status=400)
    with pytest.raises(ProviderRejected, match="greater than or equal to 1"):
        plans.create_plan("monthly-4", "Four a month", 20000, 4)
    db.session.rollback()
    assert _count() == 0
    assert not stripe_replay.seen("POST", "/v1/plans")


@pytest.mark.stripe
def test_the_same_request_again_reuses_its_idempotency_key(stripe_replay):
    stripe_replay.answer("POST", "/v1/prices", "price_recurring_month")
    plans.create_plan("monthly-4", "Four a month", 20000, 4)
    db.session.rollback()  # the command failed after Stripe answered
    plans.create_plan("monthly-4", "Four a month", 20000, 4)
    db.session.rollback()  # the recorded answer has one price id
    first, second = stripe_replay.seen("POST", "/v1/prices")
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    plans.create_plan("monthly-4b", "Four a month", 20000, 4)
    third = stripe_replay.seen("POST", "/v1/prices")[2]
    assert third.headers["Idempotency-Key"] != first.headers["Idempotency-Key"]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("Bad Slug", "N", 100, 4), "slug"),
        (("", "N", 100, 4), "slug"),
        (("x" * 65, "N", 100, 4), "slug"),
        (("ok", " ", 100, 4), "name"),
        (("ok", "N" * 121, 100, 4), "name"),
        (("ok", "N", 0, 4), "price"),
        (("ok", "N", -5, 4), "price"),
        (("ok", "N", 12.5, 4), "price"),
        (("ok", "N", "100", 4), "price"),
        (("ok", "N", True, 4), "price"),
        (("ok", "N", 10**12, 4), "price"),
        (("ok", "N", 100, 0), "lessons_per_month"),
        (("ok", "N", 100, 101), "lessons_per_month"),
        (("ok", "N", 100, "4"), "lessons_per_month"),
        (("ok", "N", 100, 4, "week"), "interval"),
        (("ok", "N", 100, 4, "month", -1), "trial_days"),
        (("ok", "N", 100, 4, "month", 91), "trial_days"),
        (("ok", "N", 100, 4, "month", 0, ["x" * 201]), "features"),
        (("ok", "N", 100, 4, "month", 0, [f"f{i}" for i in range(11)]), "features"),
        (("ok", "N", 100, 4, "month", 0, "one line"), "features"),
        (("ok", "N", 100, 4, "month", 0, [3]), "features"),
    ],
)
def test_bad_plan_details_are_refused_before_stripe_is_asked(args, field):
    # No localstripe here: a call to Stripe would fail with a different error.
    with pytest.raises(ValidationError) as refused:
        plans.create_plan(*args)
    assert field in refused.value.fields
    assert _count() == 0


def test_another_currency_is_refused():
    with pytest.raises(ValidationError) as refused:
        plans.create_plan("ok", "N", 100, 4, currency="eur")
    assert refused.value.fields == {"currency": ["Only usd."]}


def test_a_slug_in_use_even_archived_is_a_conflict():
    make_plan("monthly-4", active=False)
    with pytest.raises(Conflict) as refused:
        plans.create_plan("monthly-4", "Again", 100, 4)
    assert refused.value.code == "slug_taken"
    assert _count() == 1


def test_archiving_takes_a_plan_off_sale_and_keeps_it():
    plan = make_plan("monthly-4")
    make_plan("monthly-8", price=36000, lessons=8)
    plans.archive_plan("monthly-4")
    db.session.commit()
    assert plan.archived_at is not None and not plan.is_active
    assert [p.slug for p in plans.get_plans()] == ["monthly-8"]
    assert [p.slug for p in plans.get_plans(include_archived=True)] == ["monthly-8", "monthly-4"]
    with pytest.raises(Conflict) as again:
        plans.archive_plan("monthly-4")
    assert again.value.code == "plan_archived"
    with pytest.raises(NotFound):
        plans.archive_plan("nope")
    with pytest.raises(NotFound):
        plans.archive_plan(None)


def test_a_plan_is_found_by_id_or_slug_and_only_while_on_sale():
    plan = make_plan("monthly-4")
    old = make_plan("old", active=False)
    assert plans.plan_by_id_or_slug(plan_id=plan.id) is plan
    assert plans.plan_by_id_or_slug(plan_id=str(plan.id)) is plan
    assert plans.plan_by_id_or_slug(slug="monthly-4") is plan
    with pytest.raises(Conflict) as archived:
        plans.plan_by_id_or_slug(plan_id=old.id)
    assert archived.value.code == "plan_archived" and "plan_id" in archived.value.fields
    assert plans.plan_by_id_or_slug(slug="old", allow_archived=True) is old
    for bad in (0, -1, "x", 1.5, True, [1], 2**70):
        with pytest.raises(ValidationError):
            plans.plan_by_id_or_slug(plan_id=bad)
    with pytest.raises(NotFound):
        plans.plan_by_id_or_slug(plan_id=999)
    for bad in ("nope", "", 3, "UPPER"):
        with pytest.raises(NotFound):
            plans.plan_by_id_or_slug(slug=bad)
    with pytest.raises(ValidationError):
        plans.plan_by_id_or_slug()


def test_price_per_lesson_spreads_the_price_over_a_period():
    assert plans.price_per_lesson(make_plan("a", price=20000, lessons=3)) == 6667
    assert plans.price_per_lesson(make_plan("b", price=120000, lessons=4, interval="year")) == 2500
