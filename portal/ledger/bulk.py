"""Many unlocked entries in one statement: bulk work whose rows the caller has locked
already (renewal day). Each entry is written as `posting.post()` would write it."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from portal.db import utcnow
from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.ledger.posting import (
    LedgerError,
    balanced,
    batch_postings,
    entry_columns,
    existing_entry,
    post,
)


@dataclass(frozen=True)
class NewEntry:
    """One entry of `post_many`: as `post()`'s arguments, postings by account id."""

    idempotency_key: str
    kind: str
    postings: Sequence[tuple[int, int]]
    memo: str = ""
    tutor_id: int | None = None
    payment_id: int | None = None
    booking_id: int | None = None
    parent_id: int | None = None


def post_many(entries: Sequence[NewEntry]) -> list[int]:
    """Write many balanced entries, each under its own idempotency key, as `post()` would
    one by one (in the given order), for bulk work whose rows the caller has locked
    already (renewal day). The entries' ids, in order; flush, never commit.

    On PostgreSQL ONE statement writes every entry and its postings. An entry whose key
    exists is answered as `post()` answers it (its id; `IdempotencyConflict` when it was
    another movement).
    """
    if not entries:
        return []
    if len({entry.idempotency_key for entry in entries}) < len(entries):
        raise LedgerError("an idempotency key appears twice in one batch")
    places, accounts, amounts = batch_postings(entries, balanced)
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        return [_post_one(entry) for entry in entries]
    created_at = utcnow()
    rows = connection.execute(
        _many_statement(),
        {
            **entry_columns(entries),
            "tutors": [e.tutor_id for e in entries],
            "created_at": created_at,
            "places": places,
            "accounts": accounts,
            "amounts": amounts,
        },
    ).all()
    written = {n: entry_id for n, entry_id in rows}
    return [
        written.get(n)
        or existing_entry(entry.idempotency_key, kind=entry.kind, tutor_id=entry.tutor_id).id
        for n, entry in enumerate(entries, start=1)
    ]


def _post_one(entry: NewEntry) -> int:
    return post(
        idempotency_key=entry.idempotency_key,
        kind=entry.kind,
        postings=entry.postings,
        memo=entry.memo,
        tutor_id=entry.tutor_id,
        payment_id=entry.payment_id,
        booking_id=entry.booking_id,
        parent_id=entry.parent_id,
    ).entry_id


_MANY_STATEMENT = """
WITH v AS (
    SELECT * FROM unnest(CAST(:keys AS varchar[]), CAST(:kinds AS varchar[]),
        CAST(:memos AS varchar[]), CAST(:tutors AS integer[]), CAST(:payments AS integer[]),
        CAST(:bookings AS integer[]), CAST(:parents AS integer[]))
        WITH ORDINALITY AS v(key, kind, memo, tutor_id, payment_id, booking_id, parent_id, n)
), e AS (
    INSERT INTO ledger_entries (idempotency_key, kind, memo, tutor_id, payment_id, booking_id,
                                parent_id, created_at)
    SELECT v.key, v.kind, v.memo, v.tutor_id, v.payment_id, v.booking_id, v.parent_id,
        :created_at
    FROM v
    ORDER BY v.n
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, idempotency_key
), d AS (
    SELECT e.id AS entry_id, v.n FROM e JOIN v ON v.key = e.idempotency_key
), p AS (
    INSERT INTO ledger_postings (entry_id, account_id, amount)
    SELECT d.entry_id, x.account_id, x.amount
    FROM d
    JOIN unnest(CAST(:places AS bigint[]), CAST(:accounts AS integer[]),
                CAST(:amounts AS bigint[])) AS x(n, account_id, amount) ON x.n = d.n
)
SELECT d.n, d.entry_id FROM d"""


@functools.cache
def _many_statement() -> sa.TextClause:
    return sa.text(_MANY_STATEMENT).bindparams(
        sa.bindparam("created_at", type_=LedgerEntry.__table__.c.created_at.type)
    )
