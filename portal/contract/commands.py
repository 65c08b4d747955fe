"""`flask openapi`: write the checked-in copy of the API's document (`make openapi`)."""

from __future__ import annotations

import click

from portal.contract.document import DOCUMENT_PATH, document_json


@click.command("openapi")
@click.option("--check", is_flag=True, help="Exit 1 if the copy differs; write nothing.")
def openapi_command(check: bool) -> None:
    """Write docs/openapi.json from the live document."""
    live = document_json()
    current = DOCUMENT_PATH.read_text() if DOCUMENT_PATH.exists() else ""
    if check:
        if current != live:
            raise click.ClickException(f"{DOCUMENT_PATH} is out of date: run `make openapi`.")
        return
    DOCUMENT_PATH.parent.mkdir(exist_ok=True)
    DOCUMENT_PATH.write_text(live)
    click.echo(f"wrote {DOCUMENT_PATH}")
