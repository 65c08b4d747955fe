"""`flask plans create|list|archive` and the demo's two plans."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.providers import EXTENSION_KEY
from portal.providers.stripe import StripeProvider
from portal.subscriptions.models import Plan
from tests.subscriptions.plans_support import make_plan
from tests.support.servers import free_port


def _plans() -> list[Plan]:
    return db.session.query(Plan).order_by(Plan.id).all()


@pytest.mark.stripe
def test_create_makes_the_plan_here_and_at_localstripe(app, localstripe):
    result = app.test_cli_runner().invoke(
        args=[
            "plans",
            "create",
            "monthly-4",
            "--name",
            "Four a month",
            "--price",
            "20000",
            "--lessons-per-month",
            "4",
            "--trial-days",
            "7",
            "--feature",
            "Any tutor",
            "--feature",
            "Cancel any time",
        ]  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    [plan] = _plans()
    assert f"Created plan monthly-4 (id {plan.id}" in result.output
    assert (plan.price, plan.lessons_per_month, plan.trial_days, plan.interval) == (
        20000, 4, 7, "month")  # fmt: skip
    assert plan.features == ["Any tutor", "Cancel any time"]
    assert localstripe.get(f"/v1/plans/{plan.provider_price_id}")["amount"] == 20000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--price", "12.50"], "'12.50' is not a valid integer"),
        (["--price", "0"], "price must be more than zero"),
        (["--price", "100", "--interval", "week"], "'week' is not one of"),
        (["--price", "100", "--lessons-per-month", "0"], "lessons_per_month"),
        (["--price", "100", "--trial-days", "-3"], "trial_days"),
    ],
)
def test_create_refuses_bad_input_and_makes_nothing(app, args, message):
    base = ["plans", "create", "monthly-4", "--name", "Four"]
    if "--lessons-per-month" not in args:
        args = [*args, "--lessons-per-month", "4"]
    result = app.test_cli_runner().invoke(args=base + args)
    assert result.exit_code != 0
    assert message in result.output
    assert _plans() == []


def test_create_refuses_a_slug_in_use(app):
    make_plan("monthly-4", active=False)
    result = app.test_cli_runner().invoke(
        args=[
            "plans",
            "create",
            "monthly-4",
            "--name",
            "N",
            "--price",
            "100",
            "--lessons-per-month",
            "4",
        ]  # fmt: skip
    )
    assert result.exit_code != 0 and "slug monthly-4 exists" in result.output
    assert len(_plans()) == 1


def test_list_and_archive(app):
    make_plan("monthly-4")
    make_plan("monthly-8", price=36000, lessons=8)
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["plans", "list"])
    assert listed.exit_code == 0
    assert [line.split("\t")[1] for line in listed.output.splitlines()] == [
        "monthly-4", "monthly-8"]  # fmt: skip
    assert "$200.00/month\t4 lessons a month\tno trial" in listed.output
    archived = runner.invoke(args=["plans", "archive", "monthly-4"])
    assert archived.exit_code == 0 and "Archived plan monthly-4." in archived.output
    assert [
        line.split("\t")[1] for line in runner.invoke(args=["plans", "list"]).output.splitlines()
    ] == ["monthly-8"]  # noqa: E501
    everything = runner.invoke(args=["plans", "list", "--all"]).output
    assert "monthly-4" in everything and "(archived)" in everything
    again = runner.invoke(args=["plans", "archive", "monthly-4"])
    assert again.exit_code != 0 and "already archived" in again.output
    unknown = runner.invoke(args=["plans", "archive", "nope"])
    assert unknown.exit_code != 0 and "No such plan" in unknown.output


@pytest.mark.stripe
def test_the_demo_makes_two_plans_once(app, localstripe):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert (
        "Plans: Four lessons a month (lessons-4), Eight lessons a month (lessons-8)" in first.output
    )
    made = _plans()
    assert [p.slug for p in made] == ["lessons-4", "lessons-8"]
    assert all(localstripe.get(f"/v1/plans/{p.provider_price_id}")["active"] for p in made)
    assert runner.invoke(args=["demo"]).exit_code == 0
    assert [p.id for p in _plans()] == [p.id for p in made]


@pytest.fixture
def stripe_down(app):
    """The app's Stripe client points at a port nobody listens on."""
    previous = app.extensions.pop(EXTENSION_KEY, None)
    app.extensions[EXTENSION_KEY] = StripeProvider.from_config(
        {**app.config, "STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}"}
    )
    yield
    app.extensions.pop(EXTENSION_KEY)
    if previous is not None:
        app.extensions[EXTENSION_KEY] = previous


def test_the_demo_without_stripe_loads_everything_else(app, stripe_down):
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "Demo plans skipped" in result.output and "student@m4sh.app" in result.output
    assert _plans() == []
