"""The flush-time guard of ledger rows, installed on every session by the app factory."""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm as so

from portal.ledger.models import LedgerEntry, LedgerPosting
from portal.ledger.posting import AppendOnlyViolation, UnbalancedEntry


def install() -> None:
    """Guard every session's flushes (once, however often the factory runs)."""
    if not sa.event.contains(so.Session, "before_flush", guard_ledger_rows):
        sa.event.listen(so.Session, "before_flush", guard_ledger_rows)


def guard_ledger_rows(session, flush_context, instances) -> None:
    """Entries and postings are append-only, and each entry's new postings sum to zero.

    PostgreSQL enforces both again with triggers; on SQLite this is the database-side
    check, at flush, for everything written through the ORM.
    """
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, LedgerEntry | LedgerPosting) and (
            obj in session.deleted or session.is_modified(obj, include_collections=False)
        ):
            raise AppendOnlyViolation(f"{type(obj).__name__} rows are append-only")
    sums: dict[object, list[int]] = {}
    for obj in session.new:
        if isinstance(obj, LedgerPosting):
            key = obj.entry_id if obj.entry_id is not None else id(obj.entry)
            sums.setdefault(key, []).append(obj.amount or 0)
    for amounts in sums.values():
        if len(amounts) < 2 or sum(amounts) != 0 or 0 in amounts:
            raise UnbalancedEntry(f"postings {amounts} do not make a balanced entry")
