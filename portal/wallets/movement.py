"""How money moves through a tutor's wallet: the lock, and the one movement primitive.

Payments, refunds and payouts call the movement functions of `earnings`, `refunds`,
`adjustments` and `payout_funds`; none of them touches the ledger or a wallet column
directly. The contract of every movement function:

- keyword-only arguments; amounts are ints of minor units (anything else is a
  `TypeError`, a non-positive or absurd amount a `ValidationError`);
- it locks the tutor's wallet row first (``SELECT … FOR UPDATE`` on PostgreSQL, the
  write lock on SQLite), so concurrent movements of one wallet run one after another;
- it is idempotent by ``idempotency_key``: a key that exists returns the statement line
  it produced and changes nothing, also when two callers race; a key reused for a
  different movement is refused with `IdempotencyConflict` (409);
- it posts one balanced ledger entry through `portal.ledger.posting.post`, handing it
  the wallet's projection (`WalletProjection`: the wallet's balances, the month's
  totals, one statement line, `WalletTransaction`), and returns that line;
- it flushes and never commits: the caller owns the unit of work.

Money paths (P = provider cash, F = fee revenue, U = unearned subscription revenue, tutor
accounts pending / available / in flight; debits positive):

==========================  =====================================================
earning (lesson)            P +gross, F -fee, pending -(gross - fee)
earning (subscription)      U +gross, F -fee, pending -(gross - fee)
release                     pending +net, available -net
refund                      P -refund, F +fee_part, pending / available +share
refund reversed             P +refund, F -fee_part, pending / available -share
credit / debit (admin)      adjustments ±amount, available ∓amount
payout reserved             available +amount, in flight -amount
payout returned             in flight +amount, available -amount
payout completed            in flight +amount, paid out -amount
==========================  =====================================================
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app
from sqlalchemy.orm.attributes import set_committed_value

from portal.accounts.models import Role, User
from portal.db import is_postgres, utcnow
from portal.errors import NotFound
from portal.extensions import db
from portal.ledger import posting as ledger
from portal.ledger.accounts import ensure_accounts, insert_or_skip
from portal.ledger.models import AccountType, TutorBucket, tutor_account_code
from portal.money import require_int
from portal.wallets.models import TRANSACTION_TYPES, TutorWallet, WalletTransaction
from portal.wallets.months import MONTH_FIGURES, month_figures, month_of, month_upsert

# --- wallets and locks ----------------------------------------------------------------


def get_wallet(tutor_id: int) -> TutorWallet | None:
    return db.session.scalar(sa.select(TutorWallet).where(TutorWallet.tutor_id == tutor_id))


def get_or_create_wallet(tutor_id: int) -> TutorWallet:
    """The tutor's wallet, opened with its three ledger accounts on first use.

    Safe under a race: the unique ``tutor_id`` (and account codes) decide and the loser
    reads the winner's wallet. Refuses a user who is not a tutor.
    """
    require_int(tutor_id, "tutor_id")
    wallet = get_wallet(tutor_id)
    if wallet is not None:
        return wallet
    tutor = db.session.get(User, tutor_id)
    if tutor is None or tutor.role != Role.TUTOR:
        raise NotFound("No such tutor.")
    ids = ensure_accounts(
        (
            tutor_account_code(tutor_id, bucket),
            f"{tutor.name}: {bucket}",
            AccountType.LIABILITY,
            tutor_id,
        )
        for bucket in TutorBucket
    )
    config = current_app.config
    db.session.execute(
        insert_or_skip(TutorWallet)
        .values(
            tutor_id=tutor_id,
            currency=config["PLATFORM_CURRENCY"],
            available=0,
            pending=0,
            in_flight=0,
            total_earned=0,
            total_withdrawn=0,
            payout_threshold=config["MIN_PAYOUT_AMOUNT"],
            auto_payout_enabled=False,
            pending_account_id=ids[tutor_account_code(tutor_id, TutorBucket.PENDING)],
            available_account_id=ids[tutor_account_code(tutor_id, TutorBucket.AVAILABLE)],
            in_flight_account_id=ids[tutor_account_code(tutor_id, TutorBucket.IN_FLIGHT)],
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["tutor_id"])
    )
    return get_wallet(tutor_id)


def lock_wallet(tutor_id: int) -> TutorWallet:
    """Lock the tutor's wallet row for the rest of the transaction and return it fresh."""
    require_int(tutor_id, "tutor_id")
    row = _select_locked(tutor_id)
    if row is None:
        get_or_create_wallet(tutor_id)
        row = _select_locked(tutor_id)
    return row[0]


_w = TutorWallet.__table__.c
_TOUCH_WALLET = (
    sa.update(TutorWallet.__table__)
    .where(_w.tutor_id == sa.bindparam("tutor_id"))
    .values(tutor_id=_w.tutor_id)
)
_LOCKS: dict[tuple, sa.Select] = {}


def _select_locked(tutor_id: int, key: str | None = None, platform: tuple[str, ...] = ()):
    """The tutor's wallet row, locked, or None if there is no wallet.

    Without a `key`: ``(TutorWallet,)``, the ORM object refreshed. With a `key`: a plain
    row of the wallet's columns followed by the idempotency look-up and the platform
    account ids (see `ledger.prepare_columns`), all in one round trip and without the
    ORM's per-object cost: the hot path of every movement.
    """
    postgres = is_postgres(db.session)
    if not postgres:
        # SQLite has no row locks: a write takes the database's write lock, which then
        # serializes every other writer until this transaction ends.
        db.session.connection().execute(_TOUCH_WALLET, {"tutor_id": tutor_id})
    cache_key = (postgres, key is not None, platform)
    statement = _LOCKS.get(cache_key)
    if statement is None:
        if key is None:
            statement = sa.select(TutorWallet).execution_options(populate_existing=True)
        else:
            extra = ledger.prepare_columns(sa.bindparam("key"), platform)
            statement = sa.select(*TutorWallet.__table__.c, *extra)
        statement = statement.where(TutorWallet.tutor_id == sa.bindparam("tutor_id"))
        if postgres:
            statement = statement.with_for_update(of=TutorWallet.__table__)
        _LOCKS[cache_key] = statement
    if key is None:
        return db.session.execute(statement, {"tutor_id": tutor_id}).first()
    return db.session.connection().execute(statement, {"tutor_id": tutor_id, "key": key}).first()


def begin(tutor_id: int, key: str, kind: str, platform: tuple[str, ...] = ()):
    """Lock the wallet and look the key up: (wallet, existing line or None, account ids).

    One round trip on PostgreSQL: the key and the platform accounts ride along with the
    wallet's ``SELECT … FOR UPDATE``. The wallet is a plain row of its columns.
    """
    ledger.check_key(key)
    require_int(tutor_id, "tutor_id")
    row = _select_locked(tutor_id, key, platform)
    if row is None:
        get_or_create_wallet(tutor_id)
        row = _select_locked(tutor_id, key, platform)
    columns = len(TutorWallet.__table__.c)
    wallet, values = row, tuple(row[columns:])
    existing_id, accounts = ledger.read_prepared(values, platform)
    if existing_id is not None:
        entry = ledger.existing_entry(key, kind=kind, tutor_id=tutor_id)
        return wallet, line_for(entry.id), accounts
    return wallet, None, accounts


def line_for(entry_id: int) -> WalletTransaction:
    return db.session.scalar(
        sa.select(WalletTransaction).where(WalletTransaction.entry_id == entry_id)
    )


# --- the one movement primitive -------------------------------------------------------


@dataclass
class Move:
    """One movement of a wallet: its ledger kind, statement type and bucket changes."""

    kind: str
    line_type: str
    amount: int
    pending: int = 0
    available: int = 0
    in_flight: int = 0
    platform: dict[str, int] = field(default_factory=dict)
    earned: int = 0
    withdrawn: int = 0
    gross: int | None = None
    fee: int | None = None


def apply(
    wallet,
    move: Move,
    accounts: dict[str, int],
    *,
    key: str,
    memo: str = "",
    actor_id: int | None = None,
    payment_id: int | None = None,
    payout_id: int | None = None,
    booking_id: int | None = None,
    parent_id: int | None = None,
) -> WalletTransaction:
    """Post the entry with the (locked) wallet's projection; return the statement line."""
    postings = [(accounts[code], amount) for code, amount in move.platform.items()]
    postings += [
        (wallet.pending_account_id, -move.pending),
        (wallet.available_account_id, -move.available),
        (wallet.in_flight_account_id, -move.in_flight),
    ]
    memo = memo or TRANSACTION_TYPES[move.line_type][0]
    posted = ledger.post(
        idempotency_key=key,
        kind=move.kind,
        postings=postings,
        memo=memo,
        tutor_id=wallet.tutor_id,
        actor_id=actor_id,
        payment_id=payment_id,
        payout_id=payout_id,
        booking_id=booking_id,
        parent_id=parent_id,
        projection=WalletProjection(wallet.id, move, memo[:255], payment_id, payout_id, booking_id),
    )
    if not posted.created:  # a concurrent caller won the key after our first look
        return line_for(posted.entry_id)
    return posted.projected


class WalletLock:
    """The tutor's wallet row, locked first by `ledger.post_locked`'s one statement; the
    postings' ``pending`` / ``available`` / ``in_flight`` are its accounts."""

    cte: ClassVar[str] = """lk AS (
    SELECT id, pending_account_id, available_account_id, in_flight_account_id
    FROM tutor_wallets WHERE tutor_id = CAST(:lock_tutor_id AS integer)
    FOR UPDATE
)"""
    slots: ClassVar[dict[str, str]] = {
        "pending": "pending_account_id",
        "available": "available_account_id",
        "in_flight": "in_flight_account_id",
    }


def apply_in_one(
    tutor_id: int,
    move: Move,
    *,
    key: str,
    memo: str = "",
    actor_id: int | None = None,
    payment_id: int | None = None,
    booking_id: int | None = None,
) -> WalletTransaction | None:
    """PostgreSQL: a movement that reads nothing first (an earning), in one statement that
    locks the wallet, posts the entry and moves the wallet. None when it wrote nothing
    (no wallet yet, a platform account not opened yet, the key exists, or not
    PostgreSQL): the caller then takes the usual path, `begin` then `apply`."""
    if not is_postgres(db.session):
        return None
    postings = [(code, amount) for code, amount in move.platform.items()]
    postings += [
        ("pending", -move.pending),
        ("available", -move.available),
        ("in_flight", -move.in_flight),
    ]
    memo = memo or TRANSACTION_TYPES[move.line_type][0]
    posted = ledger.post_locked(
        lock=WalletLock(),
        lock_params={"lock_tutor_id": tutor_id},
        idempotency_key=key,
        kind=move.kind,
        postings=postings,
        memo=memo,
        tutor_id=tutor_id,
        actor_id=actor_id,
        payment_id=payment_id,
        booking_id=booking_id,
        projection=LockedWalletProjection(None, move, memo[:255], payment_id, None, booking_id),
    )
    return posted.projected if posted is not None else None


def _bigint(name: str):
    return sa.bindparam(name, type_=sa.BigInteger)


# Other databases: the projection's statements, built once, parameters bound per call.
_MOVE_WALLET = (
    sa.update(TutorWallet.__table__)
    .where(_w.id == sa.bindparam("wallet_id"))
    .values(
        pending=_w.pending + _bigint("d_pending"),
        available=_w.available + _bigint("d_available"),
        in_flight=_w.in_flight + _bigint("d_in_flight"),
        total_earned=_w.total_earned + _bigint("d_earned"),
        total_withdrawn=_w.total_withdrawn + _bigint("d_withdrawn"),
        updated_at=sa.bindparam("now", type_=_w.updated_at.type),
    )
    .returning(_w.pending, _w.available, _w.in_flight, _w.total_earned, _w.total_withdrawn)
)
_LINE_INSERT = sa.insert(WalletTransaction.__table__).returning(WalletTransaction.__table__.c.id)


@dataclass(frozen=True)
class WalletProjection:
    """A movement's wallet side, for `ledger.post`: the wallet's buckets and lifetime
    totals move, the month's totals grow (earnings and refunds) and one statement line
    records the changes with the balances after them."""

    wallet_id: int
    move: Move
    description: str
    payment_id: int | None
    payout_id: int | None
    booking_id: int | None

    # PostgreSQL: the same three writes as CTEs hanging off the entry ``e``.
    ctes: ClassVar[str] = """w AS (
    UPDATE tutor_wallets SET
        pending = pending + CAST(:d_pending AS bigint),
        available = available + CAST(:d_available AS bigint),
        in_flight = in_flight + CAST(:d_in_flight AS bigint),
        total_earned = total_earned + CAST(:d_earned AS bigint),
        total_withdrawn = total_withdrawn + CAST(:d_withdrawn AS bigint),
        updated_at = :now
    WHERE id = :wallet_id AND EXISTS (SELECT 1 FROM e)
    RETURNING pending, available, in_flight, total_earned, total_withdrawn
), m AS (
    INSERT INTO wallet_monthly_totals (wallet_id, month, earned, fees, lessons, refunds)
    SELECT CAST(:wallet_id AS integer), CAST(:month AS date), CAST(:earned AS bigint),
        CAST(:fees AS bigint), CAST(:lessons AS integer), CAST(:refunds AS bigint)
    FROM e WHERE CAST(:monthly AS boolean)
    ON CONFLICT (wallet_id, month) DO UPDATE SET
        earned = wallet_monthly_totals.earned + excluded.earned,
        fees = wallet_monthly_totals.fees + excluded.fees,
        lessons = wallet_monthly_totals.lessons + excluded.lessons,
        refunds = wallet_monthly_totals.refunds + excluded.refunds
), l AS (
    INSERT INTO wallet_transactions (wallet_id, entry_id, type, amount, available_change,
        pending_change, in_flight_change, available_after, pending_after, in_flight_after,
        gross, fee, description, payment_id, payout_id, booking_id, created_at)
    SELECT CAST(:wallet_id AS integer), e.id, CAST(:type AS varchar),
        CAST(:amount AS bigint), CAST(:d_available AS bigint), CAST(:d_pending AS bigint),
        CAST(:d_in_flight AS bigint), w.available, w.pending, w.in_flight,
        CAST(:gross AS bigint), CAST(:fee AS bigint), CAST(:description AS varchar),
        CAST(:line_payment_id AS integer), CAST(:line_payout_id AS integer),
        CAST(:line_booking_id AS integer), CAST(:created_at AS timestamptz)
    FROM e, w
    RETURNING id
)"""
    columns: ClassVar[str] = "l.id AS line_id, w.*"
    sources: ClassVar[str] = "l, w"
    bindparams: ClassVar[tuple] = (
        sa.bindparam("now", type_=_w.updated_at.type),
        sa.bindparam("month", type_=sa.Date),
        sa.bindparam("monthly", type_=sa.Boolean),
    )

    def params(self, created_at: datetime) -> dict:
        return {
            **self._wallet_params(created_at),
            **self._month_params(created_at),
            "monthly": self._figures() is not None,
            "type": self.move.line_type,
            "amount": self.move.amount,
            "gross": self.move.gross,
            "fee": self.move.fee,
            "description": self.description,
            "line_payment_id": self.payment_id,
            "line_payout_id": self.payout_id,
            "line_booking_id": self.booking_id,
        }

    def apply(self, entry_id: int, created_at: datetime) -> WalletTransaction:
        """The three writes one by one; the wallet row is locked, the sums are in SQL."""
        connection = db.session.connection()
        after = connection.execute(_MOVE_WALLET, self._wallet_params(created_at)).one()._mapping
        if self._figures() is not None:
            connection.execute(
                month_upsert(connection.dialect.name), self._month_params(created_at)
            )
        values = self._line_values(entry_id, after, created_at)
        line_id = connection.execute(_LINE_INSERT, values).scalar_one()
        return self._loaded_line(line_id, values, after)

    def _figures(self) -> dict[str, int] | None:
        return month_figures(self.move.line_type, self.move.amount, self.move.fee)

    def _wallet_params(self, created_at: datetime) -> dict:
        move = self.move
        return {
            "wallet_id": self.wallet_id,
            "d_pending": move.pending,
            "d_available": move.available,
            "d_in_flight": move.in_flight,
            "d_earned": move.earned,
            "d_withdrawn": move.withdrawn,
            "now": created_at,
        }

    def _month_params(self, created_at: datetime) -> dict:
        figures = self._figures() or dict.fromkeys(MONTH_FIGURES, 0)
        return {"wallet_id": self.wallet_id, "month": month_of(created_at), **figures}

    def result(self, row, created_at: datetime) -> WalletTransaction:
        values = self._line_values(row.entry_id, row._mapping, created_at)
        return self._loaded_line(row.line_id, values, row._mapping)

    def _line_values(self, entry_id: int, after, created_at: datetime) -> dict:
        move = self.move
        return {
            "wallet_id": self.wallet_id,
            "entry_id": entry_id,
            "type": move.line_type,
            "amount": move.amount,
            "available_change": move.available,
            "pending_change": move.pending,
            "in_flight_change": move.in_flight,
            "available_after": after["available"],
            "pending_after": after["pending"],
            "in_flight_after": after["in_flight"],
            "gross": move.gross,
            "fee": move.fee,
            "description": self.description,
            "payment_id": self.payment_id,
            "payout_id": self.payout_id,
            "booking_id": self.booking_id,
            "created_at": created_at,
        }

    def _loaded_line(self, line_id: int, values: dict, after) -> WalletTransaction:
        """The row is written: hand it to the session as a loaded object, without a SELECT;
        a wallet loaded in this session is kept in step with its row."""
        loaded = db.session.identity_map.get(so.util.identity_key(TutorWallet, self.wallet_id))
        if loaded is not None:
            for name in ("pending", "available", "in_flight", "total_earned", "total_withdrawn"):
                set_committed_value(loaded, name, after[name])
            set_committed_value(loaded, "updated_at", values["created_at"])
        # The row's values go straight into the instance's dict, as a loaded row's do: the
        # constructor would record each of the 18 as a change to flush, then forget them.
        line = WalletTransaction.__mapper__.class_manager.new_instance()
        line.__dict__.update(values, id=line_id)
        so.make_transient_to_detached(line)
        db.session.add(line)
        return line


_LOCKED_CTES = WalletProjection.ctes.replace(
    "CAST(:wallet_id AS integer)", "(SELECT id FROM lk)"
).replace("WHERE id = :wallet_id", "WHERE id = (SELECT id FROM lk)")


@dataclass(frozen=True)
class LockedWalletProjection(WalletProjection):
    """`WalletProjection` for `apply_in_one`: the wallet is the row the statement locked
    (``lk``), its id read there rather than known beforehand."""

    ctes: ClassVar[str] = _LOCKED_CTES
    columns: ClassVar[str] = "l.id AS line_id, lk.id AS locked_wallet_id, w.*"
    sources: ClassVar[str] = "l, w, lk"

    def result(self, row, created_at: datetime) -> WalletTransaction:
        located = dataclasses.replace(self, wallet_id=row.locked_wallet_id)
        return WalletProjection.result(located, row, created_at)
