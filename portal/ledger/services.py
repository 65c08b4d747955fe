"""Posting to the ledger, account balances, and the invariant check of SPEC §4.

`post()` is the only writer of entries and postings. Features never call it directly:
they move money through `portal.wallets.services`, which locks the wallet first and keeps
the wallet projection in step. Functions here flush and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.dialects import postgresql, sqlite

from portal.db import utcnow
from portal.errors import Conflict
from portal.extensions import db
from portal.ledger.models import (
    DEBIT_NORMAL,
    PLATFORM_ACCOUNTS,
    EntryKind,
    LedgerAccount,
    LedgerEntry,
    LedgerPosting,
)
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


def insert_or_skip(model):
    """INSERT … ON CONFLICT DO NOTHING for the session's backend."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def check_key(key: object) -> str:
    if not isinstance(key, str) or not key.strip():
        raise TypeError("idempotency_key must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise LedgerError(f"idempotency_key is longer than {MAX_KEY_LENGTH} characters")
    return key


def total(column, *, negate: bool = False):
    """SUM(column) as a BIGINT, 0 when there are no rows (PostgreSQL sums to NUMERIC)."""
    summed = sa.func.sum(column)
    return sa.cast(sa.func.coalesce(-summed if negate else summed, 0), sa.BigInteger)


# --- accounts -----------------------------------------------------------------------


def ensure_accounts(rows: Iterable[tuple[str, str, str, int | None]]) -> dict[str, int]:
    """Open the accounts (code, name, type, tutor_id) that do not exist; return code -> id.

    Safe under a race: the unique code decides, and a loser simply reads the winner's row.
    """
    rows = list(rows)
    db.session.execute(
        insert_or_skip(LedgerAccount)
        .values([{"code": c, "name": n, "type": t, "tutor_id": u} for c, n, t, u in rows])
        .on_conflict_do_nothing(index_elements=["code"])
    )
    codes = [row[0] for row in rows]
    found = db.session.execute(
        sa.select(LedgerAccount.code, LedgerAccount.id).where(LedgerAccount.code.in_(codes))
    ).all()
    return dict(found)


def platform_account_ids() -> dict[str, int]:
    return ensure_accounts((code, name, t, None) for code, (name, t) in PLATFORM_ACCOUNTS.items())


def prepare(key: str, platform_codes: Sequence[str] = ()) -> tuple[int | None, dict[str, int]]:
    """One round trip before posting: the id of an entry with `key`, and platform account ids.

    Platform accounts that do not exist yet are opened.
    """
    row = db.session.execute(sa.select(*prepare_columns(key, platform_codes))).one()
    return read_prepared(tuple(row), platform_codes)


def prepare_columns(key: str, platform_codes: Sequence[str] = ()) -> list:
    """Scalar subqueries for `prepare`, to add to another SELECT (saves a round trip)."""
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
    accounts = dict(zip(platform_codes, values[1:], strict=True))
    if any(value is None for value in accounts.values()):
        accounts = {code: platform_account_ids()[code] for code in platform_codes}
    return values[0], accounts


def account_balance(account_id: int) -> int:
    """The raw balance (sum of postings, debit positive) of one account."""
    return db.session.scalar(
        sa.select(total(LedgerPosting.amount)).where(LedgerPosting.account_id == account_id)
    )


def display_balance(account: LedgerAccount, raw: int) -> int:
    """A balance with the sign people expect: what the account holds, owes or earned."""
    return raw if account.type in DEBIT_NORMAL else -raw


def platform_balances() -> list[tuple[LedgerAccount, int]]:
    """Every platform account with its balance, in one query."""
    rows = db.session.execute(
        sa.select(LedgerAccount, total(LedgerPosting.amount))
        .outerjoin(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
        .where(LedgerAccount.tutor_id.is_(None))
        .group_by(LedgerAccount.id)
        .order_by(LedgerAccount.id)
    ).all()
    return [(account, display_balance(account, raw)) for account, raw in rows]


def find_account(code: str) -> LedgerAccount | None:
    return db.session.scalar(sa.select(LedgerAccount).where(LedgerAccount.code == code))


# --- posting ------------------------------------------------------------------------


@dataclass(frozen=True)
class Posted:
    entry_id: int
    created_at: datetime
    created: bool

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
) -> Posted:
    """Write one balanced entry of (account_id, amount) postings; flush, never commit.

    Zero amounts are dropped; what remains must be at least two postings summing to zero.
    If `idempotency_key` exists, the existing entry is returned (``created=False``) and
    nothing is written, also when another transaction inserts the same key concurrently:
    the insert waits for it and then does nothing.
    """
    check_key(idempotency_key)
    lines = balanced(postings)
    created_at = utcnow()
    connection = db.session.connection()
    dialect = connection.dialect.name
    entry_id = connection.execute(
        _entry_insert(dialect),
        {
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
        },
    ).scalar()
    if entry_id is None:
        entry = existing_entry(idempotency_key, kind=kind, tutor_id=tutor_id)
        return Posted(entry.id, entry.created_at, False)
    rows = [{"entry_id": entry_id, "account_id": a, "amount": m} for a, m in lines]
    if dialect == "postgresql":
        # One INSERT; the deferred constraint triggers check the sum at commit.
        connection.execute(_POSTINGS_INSERT, rows)
    else:
        # Through the ORM, so that the flush-time check below sees them.
        db.session.add_all(LedgerPosting(**row) for row in rows)
        db.session.flush()
    return Posted(entry_id, created_at, True)


_POSTINGS_INSERT = sa.insert(LedgerPosting.__table__)
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
    merged: dict[int, int] = {}
    for account_id, amount in postings:
        require_int(amount)
        if not isinstance(account_id, int):
            raise TypeError("account_id must be an int")
        merged[account_id] = merged.get(account_id, 0) + amount
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


# --- the flush-time guard (every backend) ---------------------------------------------


@sa.event.listens_for(so.Session, "before_flush")
def _guard_ledger_rows(session, flush_context, instances) -> None:
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


# --- the invariant check ----------------------------------------------------------------

MAX_REPORTED = 20


@dataclass(frozen=True)
class Drift:
    """One broken invariant: which one, and where."""

    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.detail}"


def check_invariants() -> list[Drift]:
    """Verify every ledger invariant of SPEC §4; an empty list means all hold.

    1. every entry has at least two postings and they sum to zero;
    2. a tutor account is only moved by that tutor's entries;
    3. every wallet equals its postings (pending, available, in flight);
    4. every wallet equals its statement (changes summed; lifetime earned / withdrawn);
    5. every statement line's running sums match its ``*_after`` balances;
    6. every statement line matches its entry's postings, and every tutor entry has one.
    """
    from portal.wallets import checks

    drifts = _unbalanced_entries() + _foreign_tutor_postings()
    drifts += checks.wallet_drifts()
    return drifts


def _unbalanced_entries() -> list[Drift]:
    summed = total(LedgerPosting.amount)
    count = sa.func.count(LedgerPosting.id)
    rows = db.session.execute(
        sa.select(LedgerEntry.id, LedgerEntry.idempotency_key, summed, count)
        .outerjoin(LedgerPosting, LedgerPosting.entry_id == LedgerEntry.id)
        .group_by(LedgerEntry.id, LedgerEntry.idempotency_key)
        .having(sa.or_(summed != 0, count < 2))
        .order_by(LedgerEntry.id)
        .limit(MAX_REPORTED)
    ).all()
    return [
        Drift("entry not balanced", f"entry {i} ({key}) sums to {s} over {n} posting(s)")
        for i, key, s, n in rows
    ]


def _foreign_tutor_postings() -> list[Drift]:
    rows = db.session.execute(
        sa.select(LedgerPosting.id, LedgerEntry.id, LedgerAccount.code)
        .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .where(
            LedgerAccount.tutor_id.is_not(None),
            sa.or_(LedgerEntry.tutor_id.is_(None), LedgerEntry.tutor_id != LedgerAccount.tutor_id),
        )
        .limit(MAX_REPORTED)
    ).all()
    return [
        Drift("posting on another tutor's account", f"posting {p} of entry {e} moves {code}")
        for p, e, code in rows
    ]
