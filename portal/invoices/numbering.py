"""Gapless yearly numbers: `INV-YYYY-NNNNNN` for invoices, `CN-YYYY-NNNNNN` for credit notes.

Each series keeps one counter row per year. Taking a number is one upsert that makes the
year's row at its first number or increments it in SQL, which locks the row until the
caller's transaction ends: numbers are handed out one at a time, and a transaction that
rolls back gives its number back, so none is skipped. Callers take a number last, after
everything slow, to keep the lock short.
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from portal.extensions import db
from portal.invoices.models import CreditNoteCounter, InvoiceCounter

# Numbers have at least this many digits, zero-padded.
NUMBER_DIGITS = 6


def invoice_prefix(year: int) -> str:
    return f"INV-{year}-"


def next_number(year: int) -> str:
    """The year's next invoice number, `INV-YYYY-NNNNNN`."""
    return f"{invoice_prefix(year)}{_take(InvoiceCounter.__table__, year):0{NUMBER_DIGITS}d}"


def next_credit_note_number(year: int) -> str:
    """The year's next credit note number, `CN-YYYY-NNNNNN`."""
    return f"CN-{year}-{_take(CreditNoteCounter.__table__, year):06d}"


def _take(table: sa.Table, year: int) -> int:
    """One statement: the year's row made at 1, or its number incremented (and the row
    locked), and the number returned."""
    connection = db.session.connection()
    statement = _counter_take(table, connection.dialect.name)
    return connection.execute(statement, {"of_year": year}).scalar_one()


@functools.cache
def _counter_take(table: sa.Table, dialect: str) -> sa.Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(year=sa.bindparam("of_year"), last_number=1)
    return statement.on_conflict_do_update(
        index_elements=["year"], set_={"last_number": table.c.last_number + 1}
    ).returning(table.c.last_number)
