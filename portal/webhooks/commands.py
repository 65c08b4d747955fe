"""`flask webhooks replay EVENT_ID`: what the admin's Replay button does, from a shell."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from portal.db import parse_id
from portal.extensions import db
from portal.webhooks.models import WebhookEvent
from portal.webhooks.receive import event_by_stripe_id
from portal.webhooks.tasks import run_event

webhooks_cli = AppGroup("webhooks", help="Stripe webhook events.")


@webhooks_cli.command("replay")
@click.argument("event_id")
def replay_command(event_id: str):
    """Process a stored event again, by its Stripe id (evt_…) or the log's number."""
    number = parse_id(event_id)
    event = db.session.get(WebhookEvent, number) if number else event_by_stripe_id(event_id)
    if event is None:
        raise click.ClickException(f"No stored event {event_id}.")
    outcome = run_event(event.id, replay=True)
    if outcome.status == "failed":
        raise click.ClickException(f"{event.stripe_id} failed: {outcome.error}")
    click.echo(f"{event.stripe_id}: {outcome.status}")
