"""Gapless yearly numbers: `INV-YYYY-NNNNNN` for invoices, `CN-YYYY-NNNNNN` for credit notes.

Each series keeps one counter row per year. Taking a number is one upsert that makes the
year's row at its first number or increments it in SQL, which locks the row until the
caller's transaction ends: numbers are handed out one at a time, and a transaction that
rolls back gives its number back, so none is skipped. Callers take a number last, after
everything slow, to keep the lock short.

Where many invoices are written in a row by one transaction and the rest of the work is
not the invoice's (renewal day: the webhook task renews a batch of subscriptions), an
invoice is written as a draft and `issue_at_commit` numbers it right before the commit,
together with every other invoice waiting in that transaction: one increment of the
counter for all of them, then their numbers and status in one UPDATE, then the commit.
The counter row is locked for those two statements and the commit only, so the
transactions that renew subscriptions side by side are not made to take turns.
"""

from __future__ import annotations

import functools
from collections import defaultdict

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.dialects import postgresql, sqlite

from portal.extensions import db
from portal.invoices.models import CreditNoteCounter, Invoice, InvoiceCounter

_WAITING = "portal_invoices_waiting_for_a_number"

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


def issue_at_commit(invoice: Invoice, year: int, status: str) -> None:
    """Give the draft `invoice` (added to the session) the year's next number and `status`
    right before the transaction commits (see the module). A rollback forgets it."""
    db.session.info.setdefault(_WAITING, []).append((invoice, year, status))


def _take(table: sa.Table, year: int, count: int = 1) -> int:
    """One statement: the year's row made at `count`, or its number moved on by `count`
    (and the row locked), and the last number returned: the caller's numbers are the
    `count` up to it."""
    connection = db.session.connection()
    statement = _counter_take(table, connection.dialect.name)
    return connection.execute(statement, {"of_year": year, "count": count}).scalar_one()


@functools.cache
def _counter_take(table: sa.Table, dialect: str) -> sa.Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    count = sa.bindparam("count", type_=sa.Integer)
    statement = insert(table).values(year=sa.bindparam("of_year"), last_number=count)
    return statement.on_conflict_do_update(
        index_elements=["year"], set_={"last_number": table.c.last_number + count}
    ).returning(table.c.last_number)


def _issue_waiting(session: so.Session) -> None:
    """Before the commit: number the invoices `issue_at_commit` was given, oldest first."""
    if session.in_nested_transaction() or not session.info.get(_WAITING):
        return  # a savepoint's release is not the commit
    waiting = session.info.pop(_WAITING)
    session.flush()
    by_year: dict[int, list[tuple[Invoice, str]]] = defaultdict(list)
    for invoice, year, status in waiting:
        if sa.inspect(invoice).persistent:  # not one a savepoint's rollback took back
            by_year[year].append((invoice, status))
    for year in sorted(by_year):
        invoices = sorted(by_year[year], key=lambda pair: pair[0].id)
        last = _take(InvoiceCounter.__table__, year, len(invoices))
        for number, (invoice, status) in enumerate(invoices, start=last - len(invoices) + 1):
            invoice.number = f"INV-{year}-{number:06d}"
            invoice.status = status


def _forget_waiting(session: so.Session, previous_transaction) -> None:
    if not previous_transaction.nested:  # a savepoint's rollback leaves the rest waiting
        session.info.pop(_WAITING, None)


def install_numbering_listeners() -> None:
    """Number waiting invoices before every commit, forget them on rollback (once per
    process)."""
    for name, listener in (
        ("before_commit", _issue_waiting),
        ("after_soft_rollback", _forget_waiting),
    ):
        if not sa.event.contains(so.Session, name, listener):
            sa.event.listen(so.Session, name, listener)
