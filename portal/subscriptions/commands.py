"""`flask plans create|list|archive`: the plans students can subscribe to."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from portal.db import unit_of_work
from portal.errors import PortalError
from portal.money import format_money
from portal.subscriptions.models import PlanInterval
from portal.subscriptions.plans import archive_plan, create_plan, get_plans

plans_cli = AppGroup("plans", help="Subscription plans.")


@plans_cli.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--price", type=int, required=True, help="Minor units, per interval.")
@click.option("--lessons-per-month", type=int, required=True)
@click.option("--interval", type=click.Choice([i.value for i in PlanInterval]), default="month")
@click.option("--trial-days", type=int, default=0)
@click.option("--feature", "features", multiple=True, help="One line of what it gives.")
def create_command(slug, name, price, lessons_per_month, interval, trial_days, features):
    """Make a plan here and its product and recurring price at Stripe."""
    try:
        with unit_of_work():
            plan = create_plan(
                slug, name, price, lessons_per_month, interval, trial_days, list(features)
            )
    except PortalError as exc:
        raise click.ClickException(_message(exc)) from exc
    click.echo(f"Created plan {plan.slug} (id {plan.id}, Stripe price {plan.provider_price_id}).")


@plans_cli.command("list")
@click.option("--all", "include_archived", is_flag=True, help="Archived plans too.")
def list_command(include_archived):
    """The plans on offer, one a line."""
    for plan in get_plans(include_archived=include_archived):
        state = "" if plan.is_active else "  (archived)"
        price = format_money(plan.price, plan.currency)
        trial = f"{plan.trial_days}-day trial" if plan.trial_days else "no trial"
        click.echo(
            f"{plan.id}\t{plan.slug}\t{plan.name}\t{price}/{plan.interval}\t"
            f"{plan.lessons_per_month} lessons a month\t{trial}{state}"
        )


@plans_cli.command("archive")
@click.argument("slug")
def archive_command(slug):
    """Take a plan off sale; its subscribers keep it."""
    try:
        with unit_of_work():
            plan = archive_plan(slug)
    except PortalError as exc:
        raise click.ClickException(_message(exc)) from exc
    click.echo(f"Archived plan {plan.slug}.")


def _message(exc: PortalError) -> str:
    fields = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in (exc.fields or {}).items())
    return f"{exc.message} {fields}".strip()
