"""The `flask` command line: users, demo data, tasks, encryption keys and plans.

Each command owns its unit of work: the services it calls flush, and it commits once.
"""

from __future__ import annotations

import click
from cryptography.fernet import Fernet
from flask import Flask, current_app
from flask.cli import AppGroup

from portal.accounts.notifications import news_recipients
from portal.accounts.services import create_user, get_user_by_email
from portal.accounts.tasks import send_news
from portal.accounts.tokens import issue_token, revoke_all_tokens
from portal.audit.services import record
from portal.books.commands import ledger_cli
from portal.contract.commands import openapi_command
from portal.crypto import DecryptionError, KeyConfigError, rotate_all
from portal.db import unit_of_work
from portal.demo import DEMO_PASSWORD, load_demo, load_demo_plans
from portal.errors import GatewayError, PortalError
from portal.extensions import db
from portal.subscriptions.commands import plans_cli
from portal.webhooks.commands import webhooks_cli

users_cli = AppGroup("users", help="Create users and API tokens.")
tasks_cli = AppGroup("tasks", help="Run scheduled tasks.")
keys_cli = AppGroup("keys", help="Field encryption keys.")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["student", "tutor", "admin"]), required=True)
@click.option("--password", required=True)
@click.option("--name", default=None)
@click.option("--hourly-rate", type=int, default=None, help="Minor units, tutors only.")
def create_user_command(email, role, password, name, hourly_rate):
    """Create a user (admins are created only here)."""
    try:
        with unit_of_work():
            user = create_user(email, password, role, name=name, hourly_rate=hourly_rate)
    except PortalError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Created {user.role} {user.email} (id {user.id}).")


@users_cli.command("token")
@click.argument("email")
@click.option("--name", default=None, help="What the token is for.")
def token_command(email, name):
    """Print a new API token for EMAIL and nothing else."""
    token = issue_token(_user(email), name)
    db.session.commit()
    click.echo(token)


@users_cli.command("revoke-tokens")
@click.argument("email")
def revoke_tokens_command(email):
    """Revoke every API token of EMAIL at once."""
    user = _user(email)
    count = revoke_all_tokens(user.id)
    record("api_tokens.revoked", object_type="user", object_id=user.id, after={"tokens": count})
    db.session.commit()
    click.echo(f"Revoked {count} token(s) of {user.email}.")


@users_cli.command("announce")
@click.argument("subject")
@click.argument("body", type=click.File("r", encoding="utf-8"))
def announce_command(subject, body):
    """E-mail news (the text of the file BODY) to every user who turned news on."""
    text = body.read()
    if not subject.strip() or not text.strip():
        raise click.ClickException("Give a subject and a body that are not empty.")
    ids = news_recipients()
    for user_id in ids:
        send_news.delay(user_id, subject.strip(), text)
    click.echo(f"Queued news for {len(ids)} user(s) who asked for it.")


def _user(email: str):

    user = get_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No user with email {email}.")
    return user


@tasks_cli.command("run")
@click.argument("name")
def run_task_command(name):
    """Run one registered task now, in this process."""
    celery_app = current_app.extensions["celery"]
    task = celery_app.tasks.get(name)
    if task is None or name.startswith("celery."):
        known = ", ".join(sorted(n for n in celery_app.tasks if not n.startswith("celery.")))
        raise click.ClickException(f"Unknown task {name!r}. Known tasks: {known}.")
    result = task.apply()
    if result.failed():
        raise click.ClickException(f"{name} failed: {result.result!r}")
    click.echo(f"{name}: {result.result}")


@tasks_cli.command("list")
def list_tasks_command():
    """List the registered tasks."""
    celery_app = current_app.extensions["celery"]
    for name in sorted(n for n in celery_app.tasks if not n.startswith("celery.")):
        click.echo(name)


@click.command("demo")
def demo_command():
    """Load the demo users and lessons; running it again changes nothing."""
    with unit_of_work():
        users = load_demo()
    click.echo("Demo data is loaded. Sign in with any of these (password: " + DEMO_PASSWORD + "):")
    for user in users:
        click.echo(f"  {user.role:<8} {user.email}")
    try:
        with unit_of_work():
            plans = load_demo_plans()
    except GatewayError as exc:
        # The plans live at Stripe too; everything else works without it.
        click.echo(f"Demo plans skipped, Stripe did not answer: {exc.message}")
        click.echo("Start localstripe (or set STRIPE_API_BASE) and run `flask demo` again.")
    else:
        click.echo("Plans: " + ", ".join(f"{plan.name} ({plan.slug})" for plan in plans))


@keys_cli.command("rotate")
def rotate_command():
    """Re-encrypt every encrypted value with the newest key in FIELD_ENCRYPTION_KEYS."""
    try:
        with unit_of_work():
            count = rotate_all()
            record("keys.rotated", object_type="field_encryption", object_id="all",
                   after={"values": count})  # fmt: skip
    except (KeyConfigError, DecryptionError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Re-encrypted {count} value(s) with the newest key.")


@keys_cli.command("generate")
def generate_command():
    """Print a new Fernet key (put it first in FIELD_ENCRYPTION_KEYS, then rotate)."""
    click.echo(Fernet.generate_key().decode())


def register_commands(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(tasks_cli)
    app.cli.add_command(demo_command)
    app.cli.add_command(webhooks_cli)
    app.cli.add_command(ledger_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(plans_cli)
    app.cli.add_command(openapi_command)
