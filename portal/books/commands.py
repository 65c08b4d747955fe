"""`flask ledger …`: the invariant check and account balances from the command line."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from portal.books.checks import check_invariants
from portal.ledger.accounts import platform_balances
from portal.money import format_money

ledger_cli = AppGroup("ledger", help="Check and inspect the double-entry ledger.")


@ledger_cli.command("check")
def check_command():
    """Verify every ledger invariant; exit 1 naming each drift."""
    drifts = check_invariants()
    if drifts:
        for drift in drifts:
            click.echo(f"DRIFT {drift}", err=True)
        raise click.ClickException(f"{len(drifts)} ledger invariant(s) broken.")
    click.echo("Ledger OK: every entry sums to zero; wallets and statements match postings.")


@ledger_cli.command("balances")
def balances_command():
    """Print the platform accounts' balances."""
    for account, balance in platform_balances():
        click.echo(f"{account.code:<16} {format_money(balance):>16}  {account.name}")
