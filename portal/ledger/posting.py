"""Posting: the one writer of ledger entries and postings, on every database.

`post()` writes one balanced entry under an idempotency key. A feature whose own rows
move with the entry (the tutor's wallet, its statement line) hands `post()` a
`Projection` instead of writing them itself:

- on PostgreSQL the projection's CTEs join the entry's own in ONE statement
  (data-modifying CTEs). Every projection CTE reads from ``e``, the inserted entry, so a
  key that exists (``ON CONFLICT DO NOTHING`` returns no row) writes nothing at all.
  Foreign keys are checked at the end of the statement, the zero-sum triggers at commit.
- on other databases the postings go through the ORM (so the flush-time guard sees
  them), then the projection is applied with the new entry's id.

Either way the projection's result (its balances after, its statement line) comes back
in `Posted.projected`. On PostgreSQL two shorter paths take the lock into the statement:
`post_locked` (a movement that reads nothing first: lock, entry, postings, projection in
one round trip) and `post_batch_locked` (many entries of bulk work under one lock, each
with its own key, in one round trip). `bulk.post_many` writes many entries whose rows
the caller has locked already in one statement (renewal day). Functions here flush and never
commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from portal.db import utcnow
from portal.errors import Conflict
from portal.extensions import db
from portal.ledger.accounts import platform_account_ids
from portal.ledger.models import EntryKind, LedgerAccount, LedgerEntry, LedgerPosting
from portal.money import require_int

MAX_KEY_LENGTH = 200


class LedgerError(ValueError):
    """A programming error: an entry that cannot be written as asked."""


class UnbalancedEntry(LedgerError):
    pass


class AppendOnlyViolation(LedgerError):
    pass


class IdempotencyConflict(Conflict):
    """The key was already used for a different movement: refuse instead of guessing."""

    code = "idempotency_conflict"


def check_key(key: object) -> str:
    if not isinstance(key, str) or not key.strip():
        raise TypeError("idempotency_key must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise LedgerError(f"idempotency_key is longer than {MAX_KEY_LENGTH} characters")
    return key


# --- the look-up before posting -------------------------------------------------------


def prepare_columns(key: str, platform_codes: Sequence[str] = ()) -> list:
    """Scalar subqueries to add to another SELECT, saving a round trip before posting:
    the id of an entry with `key`, then the ids of the platform accounts (see
    `read_prepared`)."""
    columns = [
        sa.select(LedgerEntry.id).where(LedgerEntry.idempotency_key == key).scalar_subquery()
    ]
    columns += [
        sa.select(LedgerAccount.id).where(LedgerAccount.code == code).scalar_subquery()
        for code in platform_codes
    ]
    return columns


def read_prepared(
    values: tuple, platform_codes: Sequence[str] = ()
) -> tuple[int | None, dict[str, int]]:
    """The values of `prepare_columns`: (existing entry id, platform code -> account id).

    Platform accounts that do not exist yet are opened.
    """
    accounts = dict(zip(platform_codes, values[1:], strict=True))
    if any(value is None for value in accounts.values()):
        accounts = {code: platform_account_ids()[code] for code in platform_codes}
    return values[0], accounts


# --- posting --------------------------------------------------------------------------


class Projection(Protocol):
    """Rows of a feature that move with an entry, written by `post()` in step with it.

    ``ctes``: SQL of further CTEs for PostgreSQL's one statement (``name AS (…)``,
    comma-separated), each reading from ``e`` (the new entry's ``id``; the entry's
    ``:created_at`` may be read too); ``columns`` and
    ``sources``: what the final SELECT adds to ``e.id AS entry_id`` and ``FROM e``;
    ``bindparams``: the types of its parameters where PostgreSQL needs them. All are
    constants of the projection's type: the statement is built once per type.
    """

    ctes: str
    columns: str
    sources: str
    bindparams: tuple[sa.BindParameter, ...]

    def params(self, created_at: datetime) -> dict[str, Any]:
        """The bound values of the CTEs."""

    def apply(self, entry_id: int, created_at: datetime) -> Any:
        """Other databases: write the rows for the entry just inserted; return the result."""

    def result(self, row: Any, created_at: datetime) -> Any:
        """PostgreSQL: the result from the statement's row."""


@dataclass(frozen=True)
class Posted:
    entry_id: int
    created_at: datetime
    created: bool
    # What the projection returned; None when the key existed (nothing was written).
    projected: Any = None

    @property
    def entry(self) -> LedgerEntry:
        return db.session.get(LedgerEntry, self.entry_id)


def post(
    *,
    idempotency_key: str,
    kind: str,
    postings: Sequence[tuple[int, int]],
    memo: str = "",
    tutor_id: int | None = None,
    actor_id: int | None = None,
    payment_id: int | None = None,
    payout_id: int | None = None,
    booking_id: int | None = None,
    parent_id: int | None = None,
    projection: Projection | None = None,
) -> Posted:
    """Write one balanced entry of (account_id, amount) postings; flush, never commit.

    Zero amounts are dropped; what remains must be at least two postings summing to zero.
    If `idempotency_key` exists, the existing entry is returned (``created=False``) and
    nothing is written, also when another transaction inserts the same key concurrently:
    the insert waits for it and then does nothing. A key used for another movement (kind
    or tutor) is refused with `IdempotencyConflict`.
    """
    check_key(idempotency_key)
    lines = balanced(postings)
    created_at = utcnow()
    entry = {
        "idempotency_key": idempotency_key,
        "kind": EntryKind(kind).value,
        "memo": (memo or "")[:255],
        "tutor_id": tutor_id,
        "actor_id": actor_id,
        "payment_id": payment_id,
        "payout_id": payout_id,
        "booking_id": booking_id,
        "parent_id": parent_id,
        "created_at": created_at,
    }
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        row = connection.execute(
            _one_statement(projection),
            {
                **entry,
                "accounts": [account for account, _ in lines],
                "amounts": [amount for _, amount in lines],
                **(projection.params(created_at) if projection else {}),
            },
        ).first()
        if row is not None:
            projected = projection.result(row, created_at) if projection else None
            return Posted(row.entry_id, created_at, True, projected)
    else:
        entry_id = connection.execute(_entry_insert(connection.dialect.name), entry).scalar()
        if entry_id is not None:
            # Through the ORM, so that the flush-time guard sees them.
            db.session.add_all(
                LedgerPosting(entry_id=entry_id, account_id=a, amount=m) for a, m in lines
            )
            db.session.flush()
            projected = projection.apply(entry_id, created_at) if projection else None
            return Posted(entry_id, created_at, True, projected)
    found = existing_entry(idempotency_key, kind=kind, tutor_id=tutor_id)
    return Posted(found.id, found.created_at, False)


_ENTRY_CTES = """
WITH e AS (
    INSERT INTO ledger_entries (idempotency_key, kind, memo, tutor_id, actor_id, payment_id,
                                payout_id, booking_id, parent_id, created_at)
    VALUES (:idempotency_key, :kind, :memo, :tutor_id, :actor_id, :payment_id, :payout_id,
            :booking_id, :parent_id, :created_at)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
), p AS (
    INSERT INTO ledger_postings (entry_id, account_id, amount)
    SELECT e.id, v.account_id, v.amount
    FROM e, unnest(CAST(:accounts AS integer[]), CAST(:amounts AS bigint[]))
        AS v(account_id, amount)
)"""
_STATEMENTS: dict[type | None, sa.TextClause] = {}


def _one_statement(projection: Projection | None) -> sa.TextClause:
    """PostgreSQL: the entry, its postings and the projection in one statement, built once."""
    shape = type(projection) if projection is not None else None
    if shape not in _STATEMENTS:
        sql = _ENTRY_CTES
        if projection is None:
            sql += "\nSELECT e.id AS entry_id FROM e"
        else:
            sql += f", {projection.ctes}\nSELECT e.id AS entry_id, {projection.columns}"
            sql += f" FROM e, {projection.sources}"
        binds = projection.bindparams if projection is not None else ()
        _STATEMENTS[shape] = sa.text(sql).bindparams(
            sa.bindparam("created_at", type_=LedgerEntry.__table__.c.created_at.type), *binds
        )
    return _STATEMENTS[shape]


# --- one statement with the lock (PostgreSQL) -------------------------------------------


class RowLock(Protocol):
    """The row a movement locks first, for `post_locked`: ``cte`` is SQL of a CTE named
    ``lk`` that selects it ``FOR UPDATE`` (bound parameters of its own allowed), and
    ``slots`` maps a posting's account reference to the column of ``lk`` holding the
    account id (a tutor's pending account, say). A constant of the lock's type."""

    cte: str
    slots: dict[str, str]


def post_locked(
    *,
    lock: RowLock,
    lock_params: dict[str, Any],
    idempotency_key: str,
    kind: str,
    postings: Sequence[tuple[str, int]],
    projection: Projection,
    memo: str = "",
    tutor_id: int | None = None,
    actor_id: int | None = None,
    payment_id: int | None = None,
    payout_id: int | None = None,
    booking_id: int | None = None,
    parent_id: int | None = None,
) -> Posted | None:
    """PostgreSQL: lock the row, write the entry, its postings and the projection, in ONE
    statement; for a movement that reads nothing before it moves (an earning).

    Postings name their accounts: a platform account by code, or one of the lock's
    ``slots``. The lock comes first (every CTE after it reads from ``lk``), so the lock
    order is the two-step path's. Returns None, having written nothing, when there is
    no row to lock, a platform account is not opened yet, or the key exists: the caller
    then takes the two-step path (`post`), which opens what is missing and answers an
    existing key.
    """
    check_key(idempotency_key)
    lines = balanced_refs(postings)
    created_at = utcnow()
    connection = db.session.connection()
    row = connection.execute(
        _locked_statement(lock, projection),
        {
            **lock_params,
            "idempotency_key": idempotency_key,
            "kind": EntryKind(kind).value,
            "memo": (memo or "")[:255],
            "tutor_id": tutor_id,
            "actor_id": actor_id,
            "payment_id": payment_id,
            "payout_id": payout_id,
            "booking_id": booking_id,
            "parent_id": parent_id,
            "created_at": created_at,
            "refs": [ref for ref, _ in lines],
            "amounts": [amount for _, amount in lines],
            "codes": [ref for ref, _ in lines if ref not in lock.slots],
            **projection.params(created_at),
        },
    ).first()
    if row is None:
        return None
    return Posted(row.entry_id, created_at, True, projection.result(row, created_at))


_LOCKED_ENTRY_CTES = """, e AS (
    INSERT INTO ledger_entries (idempotency_key, kind, memo, tutor_id, actor_id, payment_id,
                                payout_id, booking_id, parent_id, created_at)
    SELECT CAST(:idempotency_key AS varchar), CAST(:kind AS varchar), CAST(:memo AS varchar),
        CAST(:tutor_id AS integer), CAST(:actor_id AS integer), CAST(:payment_id AS integer),
        CAST(:payout_id AS integer), CAST(:booking_id AS integer), CAST(:parent_id AS integer),
        :created_at
    FROM lk
    WHERE (SELECT count(*) FROM ledger_accounts
           WHERE tutor_id IS NULL AND code = ANY(CAST(:codes AS varchar[])))
          = cardinality(CAST(:codes AS varchar[]))
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
), p AS (
    INSERT INTO ledger_postings (entry_id, account_id, amount)
    SELECT e.id, COALESCE(CASE v.ref {slots} END, a.id), v.amount
    FROM e CROSS JOIN lk
    CROSS JOIN unnest(CAST(:refs AS varchar[]), CAST(:amounts AS bigint[])) AS v(ref, amount)
    LEFT JOIN ledger_accounts a ON a.code = v.ref AND a.tutor_id IS NULL
)"""
_LOCKED_STATEMENTS: dict[tuple[type, type], sa.TextClause] = {}


def _locked_statement(lock: RowLock, projection: Projection) -> sa.TextClause:
    shape = (type(lock), type(projection))
    if shape not in _LOCKED_STATEMENTS:
        slots = " ".join(f"WHEN '{ref}' THEN lk.{column}" for ref, column in lock.slots.items())
        # The parts are constants of the lock's and projection's types, never input.
        sql = "WITH " + lock.cte + _LOCKED_ENTRY_CTES.replace("{slots}", slots)
        sql += f", {projection.ctes}\nSELECT e.id AS entry_id, {projection.columns}"
        sql += f" FROM e, {projection.sources}"
        _LOCKED_STATEMENTS[shape] = sa.text(sql).bindparams(
            sa.bindparam("created_at", type_=LedgerEntry.__table__.c.created_at.type),
            *projection.bindparams,
        )
    return _LOCKED_STATEMENTS[shape]


def balanced_refs(postings: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """`balanced` for postings that name their accounts (a code or a lock's slot)."""
    return _merged_and_balanced(postings, str, "an account reference must be a string")


# --- many entries in one statement (PostgreSQL, bulk work) ------------------------------


@dataclass(frozen=True)
class BatchEntry:
    """One entry of `post_batch_locked`: its key, kind, memo, links and postings (account
    references as in `post_locked`)."""

    idempotency_key: str
    kind: str
    postings: Sequence[tuple[str, int]]
    memo: str = ""
    parent_id: int | None = None
    booking_id: int | None = None
    payment_id: int | None = None
    payout_id: int | None = None


class BatchProjection(Protocol):
    """`Projection` for a batch: its CTEs read ``d`` (``entry_id``, ``n``: the entries
    written, ``n`` their 1-based place in the batch) and ``lk``; ``columns`` and
    ``sources`` make the final SELECT, one row per entry written."""

    ctes: str
    columns: str
    sources: str
    bindparams: tuple[sa.BindParameter, ...]

    def params(self, created_at: datetime) -> dict[str, Any]: ...


def post_batch_locked(
    *,
    lock: RowLock,
    lock_params: dict[str, Any],
    entries: Sequence[BatchEntry],
    projection: BatchProjection,
    tutor_id: int | None = None,
    actor_id: int | None = None,
) -> list[Any]:
    """PostgreSQL: many entries under one lock in ONE statement (the hourly release, bulk
    payouts): the row is locked first, then each entry is written in order with its own
    idempotency key, as one call of `post_locked` each would. An entry whose key exists
    is skipped (the projection sees only those written). Returns the final SELECT's rows,
    one per entry written; [] when nothing could be written (no row to lock, or a
    platform account not opened yet: the caller takes the one-by-one path)."""
    if not entries:
        return []
    places, refs, amounts = batch_postings(entries, balanced_refs)
    codes = sorted({ref for ref in refs if ref not in lock.slots})
    created_at = utcnow()
    rows = (
        db.session.connection()
        .execute(
            _batch_statement(lock, projection),
            {
                **lock_params,
                **entry_columns(entries),
                "payouts": [e.payout_id for e in entries],
                "tutor_id": tutor_id,
                "actor_id": actor_id,
                "created_at": created_at,
                "codes": codes,
                "places": places,
                "refs": refs,
                "amounts": amounts,
                **projection.params(created_at),
            },
        )
        .all()
    )
    return rows


def batch_postings(entries: Sequence, balance) -> tuple[list[int], list, list[int]]:
    """Every entry's postings, as three parallel arrays for a one-statement batch: the
    entry's place (from 1, as the statement's `WITH ORDINALITY` numbers entries), the
    account (checked and merged by `balance`) and the amount. Keys are checked first."""
    places, accounts, amounts = [], [], []
    for place, entry in enumerate(entries, start=1):
        check_key(entry.idempotency_key)
        for account, amount in balance(entry.postings):
            places.append(place)
            accounts.append(account)
            amounts.append(amount)
    return places, accounts, amounts


def entry_columns(entries: Sequence) -> dict[str, list]:
    """The columns every batch entry has, one array each (one item per entry, in order)."""
    return {
        "keys": [e.idempotency_key for e in entries],
        "kinds": [EntryKind(e.kind).value for e in entries],
        "memos": [(e.memo or "")[:255] for e in entries],
        "parents": [e.parent_id for e in entries],
        "bookings": [e.booking_id for e in entries],
        "payments": [e.payment_id for e in entries],
    }


_BATCH_ENTRY_CTES = """, v AS (
    SELECT * FROM unnest(CAST(:keys AS varchar[]), CAST(:kinds AS varchar[]),
        CAST(:memos AS varchar[]), CAST(:parents AS integer[]), CAST(:bookings AS integer[]),
        CAST(:payments AS integer[]), CAST(:payouts AS integer[]))
        WITH ORDINALITY AS v(key, kind, memo, parent_id, booking_id, payment_id, payout_id, n)
), e AS (
    INSERT INTO ledger_entries (idempotency_key, kind, memo, tutor_id, actor_id, payment_id,
                                payout_id, booking_id, parent_id, created_at)
    SELECT v.key, v.kind, v.memo, CAST(:tutor_id AS integer), CAST(:actor_id AS integer),
        v.payment_id, v.payout_id, v.booking_id, v.parent_id, :created_at
    FROM v CROSS JOIN lk
    WHERE (SELECT count(*) FROM ledger_accounts
           WHERE tutor_id IS NULL AND code = ANY(CAST(:codes AS varchar[])))
          = cardinality(CAST(:codes AS varchar[]))
    ORDER BY v.n
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, idempotency_key
), d AS (
    SELECT e.id AS entry_id, v.n FROM e JOIN v ON v.key = e.idempotency_key
), p AS (
    INSERT INTO ledger_postings (entry_id, account_id, amount)
    SELECT d.entry_id, COALESCE(CASE x.ref {slots} END, a.id), x.amount
    FROM d
    JOIN unnest(CAST(:places AS bigint[]), CAST(:refs AS varchar[]), CAST(:amounts AS bigint[]))
        AS x(n, ref, amount) ON x.n = d.n
    CROSS JOIN lk
    LEFT JOIN ledger_accounts a ON a.code = x.ref AND a.tutor_id IS NULL
)"""
_BATCH_STATEMENTS: dict[tuple[type, type], sa.TextClause] = {}


def _batch_statement(lock: RowLock, projection: BatchProjection) -> sa.TextClause:
    shape = (type(lock), type(projection))
    if shape not in _BATCH_STATEMENTS:
        slots = " ".join(f"WHEN '{ref}' THEN lk.{column}" for ref, column in lock.slots.items())
        # The parts are constants of the lock's and projection's types, never input.
        sql = "WITH " + lock.cte + _BATCH_ENTRY_CTES.replace("{slots}", slots)
        sql += f", {projection.ctes}\nSELECT {projection.columns} FROM {projection.sources}"
        _BATCH_STATEMENTS[shape] = sa.text(sql).bindparams(
            sa.bindparam("created_at", type_=LedgerEntry.__table__.c.created_at.type),
            *projection.bindparams,
        )
    return _BATCH_STATEMENTS[shape]


_ENTRY_INSERTS: dict[str, sa.Insert] = {}


def _entry_insert(dialect: str):
    """INSERT … ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, built once."""
    if dialect not in _ENTRY_INSERTS:
        table = LedgerEntry.__table__
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        _ENTRY_INSERTS[dialect] = (
            insert(table)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(table.c.id)
        )
    return _ENTRY_INSERTS[dialect]


def balanced(postings: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The postings merged per account, zeros dropped; refuses an unbalanced entry."""
    return _merged_and_balanced(postings, int, "account_id must be an int")


def _merged_and_balanced(postings, account_type: type, type_error: str) -> list:
    merged: dict = {}
    for account, amount in postings:
        require_int(amount)
        if not isinstance(account, account_type):
            raise TypeError(type_error)
        merged[account] = merged.get(account, 0) + amount
    lines = [(account, amount) for account, amount in merged.items() if amount != 0]
    if len(lines) < 2:
        raise UnbalancedEntry("an entry needs at least two non-zero postings")
    total = sum(amount for _, amount in lines)
    if total != 0:
        raise UnbalancedEntry(f"postings must sum to zero, not {total}")
    return lines


def existing_entry(key: str, *, kind: str, tutor_id: int | None) -> LedgerEntry:
    """The entry already posted under `key`; refuses one that was a different movement."""
    entry = db.session.scalar(sa.select(LedgerEntry).where(LedgerEntry.idempotency_key == key))
    if entry is None:  # pragma: no cover - the insert said it exists
        raise LedgerError(f"no entry with key {key!r}")
    if entry.kind != kind or entry.tutor_id != tutor_id:
        raise IdempotencyConflict(
            f"The idempotency key {key!r} was already used for a different movement "
            f"({entry.kind}).",
        )
    return entry
