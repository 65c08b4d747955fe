"""The wallet service: the only way money moves in the portal.

Payments, refunds and payouts call these functions; none of them touches the ledger or a
wallet column directly. The contract of every movement function:

- keyword-only arguments; amounts are ints of minor units (anything else is a
  `TypeError`, a non-positive or absurd amount a `ValidationError`);
- it locks the tutor's wallet row first (``SELECT … FOR UPDATE`` on PostgreSQL, the
  write lock on SQLite), so concurrent movements of one wallet run one after another;
- it is idempotent by ``idempotency_key``: a key that exists returns the statement line
  it produced and changes nothing, also when two callers race; a key reused for a
  different movement is refused with `IdempotencyConflict` (409);
- it posts one balanced ledger entry, updates the wallet projection and writes one
  statement line (`WalletTransaction`), which it returns;
- it flushes and never commits: the caller owns the unit of work.

Money paths (P = provider cash, F = fee revenue, tutor accounts pending / available /
in flight; debits positive):

==========================  =====================================================
earning (lesson / subscr.)  P +gross, F -fee, pending -(gross - fee)
release                     pending +net, available -net
refund                      P -refund, F +fee_part, pending / available +share
refund reversed             P +refund, F -fee_part, pending / available -share
credit / debit (admin)      adjustments ±amount, available ∓amount
payout reserved             available +amount, in flight -amount
payout returned             in flight +amount, available -amount
payout completed            in flight +amount, paid out -amount
==========================  =====================================================

**Release rule.** An earning moves from pending to available once its booking is
``completed`` and the completion is at least ``EARNINGS_HOLD_DAYS`` old. An earning
without a booking is released ``EARNINGS_HOLD_DAYS`` after it was posted. Only what is
still pending is released (a refund may already have taken part of it back).

**Refund rule.** The tutor's share (``refund - fee_part``) comes back out of what is
still pending for that payment's earning; whatever is left comes out of available,
which may go negative: a debt that blocks payouts until later earnings cover it.
A refund the provider could not pay out is reversed: the share goes back where it came
from (to available instead of pending once the earning has been released).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.attributes import set_committed_value

from portal.accounts.models import Role, User
from portal.bookings.models import Booking, BookingStatus
from portal.db import is_postgres, utcnow
from portal.errors import Conflict, InsufficientFunds, NotFound, ValidationError
from portal.extensions import db
from portal.ledger import services as ledger
from portal.ledger.models import (
    EARNING_KINDS,
    AccountType,
    EntryKind,
    LedgerEntry,
    LedgerPosting,
    PlatformAccount,
    TutorBucket,
    tutor_account_code,
)
from portal.ledger.services import total as ledger_total
from portal.money import AmountError, check_amount, format_major_plain, require_int
from portal.validation import parse_day
from portal.wallets.models import (
    EARNING_TYPES,
    REFUND_TYPES,
    TRANSACTION_TYPES,
    TransactionType,
    TutorWallet,
    WalletMonth,
    WalletTransaction,
)

CASH = PlatformAccount.PROVIDER_CASH
FEES = PlatformAccount.FEE_REVENUE
PAID_OUT = PlatformAccount.PAYOUTS_PAID
ADJUSTMENTS = PlatformAccount.ADJUSTMENTS


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
    ids = ledger.ensure_accounts(
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
        ledger.insert_or_skip(TutorWallet)
        .values(
            tutor_id=tutor_id,
            currency=config["PLATFORM_CURRENCY"],
            balance=0,
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


# --- argument checks ------------------------------------------------------------------


def _amount(value: object, name: str = "amount") -> int:
    require_int(value, name)
    try:
        return check_amount(value, name=name)
    except AmountError as exc:
        raise ValidationError(str(exc), fields={name: [str(exc)]}) from None


def _part(value: object, name: str, whole: int, whole_name: str) -> int:
    require_int(value, name)
    if value < 0 or value > whole:
        message = f"{name} must be between 0 and {whole_name}."
        raise ValidationError(message, fields={name: [message]})
    return value


def _optional_id(value: object, name: str) -> int | None:
    if value is not None:
        require_int(value, name)
    return value


def _reason(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("reason must be a string")
    value = value.strip()
    if not value:
        raise ValidationError("Give a reason.", fields={"reason": ["Give a reason."]})
    if len(value) > 255:
        raise ValidationError(
            "Keep the reason under 255 characters.", fields={"reason": ["At most 255 characters."]}
        )
    return value


# --- the one movement primitive -------------------------------------------------------


@dataclass
class _Move:
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


def _apply(
    wallet: TutorWallet,
    move: _Move,
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
    """Post the entry, move the (locked) wallet and write the statement line."""
    postings = [(accounts[code], amount) for code, amount in move.platform.items()]
    postings += [
        (wallet.pending_account_id, -move.pending),
        (wallet.available_account_id, -move.available),
        (wallet.in_flight_account_id, -move.in_flight),
    ]
    memo = memo or TRANSACTION_TYPES[move.line_type][0]
    link = dict(
        memo=memo,
        actor_id=actor_id,
        payment_id=payment_id,
        payout_id=payout_id,
        booking_id=booking_id,
        parent_id=parent_id,
    )
    if is_postgres(db.session):
        line = _apply_in_one_statement(wallet, move, postings, key=key, **link)
        if line is not None:
            return line
        # The key was taken by a concurrent caller after our first look.
        entry = ledger.existing_entry(key, kind=move.kind, tutor_id=wallet.tutor_id)
        return _line_for(entry.id)
    posted = ledger.post(
        idempotency_key=key, kind=move.kind, postings=postings, tutor_id=wallet.tutor_id, **link
    )
    if not posted.created:  # a concurrent caller won the key after our first look
        return _line_for(posted.entry_id)
    # The row is locked; the arithmetic still happens in SQL, and RETURNING gives the
    # balances after it for the statement line.
    connection = db.session.connection()
    after = connection.execute(
        _MOVE_WALLET,
        {
            "wallet_id": wallet.id,
            "d_pending": move.pending,
            "d_balance": move.available,
            "d_in_flight": move.in_flight,
            "d_earned": move.earned,
            "d_withdrawn": move.withdrawn,
            "now": posted.created_at,
        },
    ).one()
    _sync_loaded_wallet(wallet.id, after._mapping)
    values = {
        "wallet_id": wallet.id,
        "entry_id": posted.entry_id,
        "type": move.line_type,
        "amount": move.amount,
        "available_change": move.available,
        "pending_change": move.pending,
        "in_flight_change": move.in_flight,
        "balance_after": after.balance,
        "pending_after": after.pending,
        "in_flight_after": after.in_flight,
        "gross": move.gross,
        "fee": move.fee,
        "description": memo[:255],
        "payment_id": payment_id,
        "payout_id": payout_id,
        "booking_id": booking_id,
        "created_at": posted.created_at,
    }
    if move.line_type in _MONTHLY_TYPES:
        _add_to_month(connection, wallet.id, posted.created_at, move)
    line_id = connection.execute(_LINE_INSERT, values).scalar_one()
    # The row is written: hand it to the session as a loaded object, without a SELECT.
    line = WalletTransaction(id=line_id, **values)
    so.make_transient_to_detached(line)
    db.session.add(line)
    return line


_MONTHLY_TYPES = (*EARNING_TYPES, *REFUND_TYPES)


# PostgreSQL: the whole movement after the lock in one statement (data-modifying CTEs).
# The entry goes in first and everything else hangs off its row, so a key that exists
# (ON CONFLICT DO NOTHING returns no row) writes nothing at all. Foreign keys are checked
# at the end of the statement, the zero-sum triggers at commit.
_APPLY_SQL = sa.text("""
WITH e AS (
    INSERT INTO ledger_entries (idempotency_key, kind, memo, tutor_id, actor_id, payment_id,
                                payout_id, booking_id, parent_id, created_at)
    VALUES (:key, :kind, :memo, :tutor_id, :actor_id, :payment_id, :payout_id, :booking_id,
            :parent_id, :created_at)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
), p AS (
    INSERT INTO ledger_postings (entry_id, account_id, amount)
    SELECT e.id, v.account_id, v.amount
    FROM e, unnest(CAST(:accounts AS integer[]), CAST(:amounts AS bigint[]))
        AS v(account_id, amount)
), w AS (
    UPDATE tutor_wallets SET
        pending = pending + CAST(:d_pending AS bigint),
        balance = balance + CAST(:d_balance AS bigint),
        in_flight = in_flight + CAST(:d_in_flight AS bigint),
        total_earned = total_earned + CAST(:d_earned AS bigint),
        total_withdrawn = total_withdrawn + CAST(:d_withdrawn AS bigint),
        updated_at = :created_at
    WHERE id = :wallet_id AND EXISTS (SELECT 1 FROM e)
    RETURNING pending, balance, in_flight, total_earned, total_withdrawn, updated_at
), m AS (
    INSERT INTO wallet_monthly_totals (wallet_id, month, earned, fees, lessons, refunds)
    SELECT CAST(:wallet_id AS integer), CAST(:month AS date), CAST(:m_earned AS bigint),
        CAST(:m_fees AS bigint), CAST(:m_lessons AS integer), CAST(:m_refunds AS bigint)
    FROM e WHERE CAST(:monthly AS boolean)
    ON CONFLICT (wallet_id, month) DO UPDATE SET
        earned = wallet_monthly_totals.earned + excluded.earned,
        fees = wallet_monthly_totals.fees + excluded.fees,
        lessons = wallet_monthly_totals.lessons + excluded.lessons,
        refunds = wallet_monthly_totals.refunds + excluded.refunds
), l AS (
    INSERT INTO wallet_transactions (wallet_id, entry_id, type, amount, available_change,
        pending_change, in_flight_change, balance_after, pending_after, in_flight_after,
        gross, fee, description, payment_id, payout_id, booking_id, created_at)
    SELECT CAST(:wallet_id AS integer), e.id, CAST(:type AS varchar),
        CAST(:amount AS bigint), CAST(:d_balance AS bigint), CAST(:d_pending AS bigint),
        CAST(:d_in_flight AS bigint), w.balance, w.pending, w.in_flight,
        CAST(:gross AS bigint), CAST(:fee AS bigint), CAST(:memo AS varchar),
        CAST(:payment_id AS integer), CAST(:payout_id AS integer),
        CAST(:booking_id AS integer), CAST(:created_at AS timestamptz)
    FROM e, w
    RETURNING id, entry_id
)
SELECT l.entry_id, l.id AS line_id, w.* FROM l, w
""").bindparams(
    sa.bindparam("created_at", type_=TutorWallet.__table__.c.updated_at.type),
    sa.bindparam("month", type_=sa.Date),
    sa.bindparam("monthly", type_=sa.Boolean),
)


def _apply_in_one_statement(wallet, move: _Move, postings, *, key: str, **link):
    """The PostgreSQL path of `_apply`: one round trip; None if the key already exists."""
    ledger.check_key(key)
    lines = ledger.balanced(postings)
    created_at = utcnow()
    earning = move.line_type in EARNING_TYPES
    row = (
        db.session.connection()
        .execute(
            _APPLY_SQL,
            {
                "key": key,
                "kind": EntryKind(move.kind).value,
                "tutor_id": wallet.tutor_id,
                "created_at": created_at,
                "wallet_id": wallet.id,
                "accounts": [account for account, _ in lines],
                "amounts": [amount for _, amount in lines],
                "d_pending": move.pending,
                "d_balance": move.available,
                "d_in_flight": move.in_flight,
                "d_earned": move.earned,
                "d_withdrawn": move.withdrawn,
                "monthly": move.line_type in _MONTHLY_TYPES,
                "month": created_at.date().replace(day=1),
                "m_earned": move.amount if earning else 0,
                "m_fees": move.fee if earning else 0,
                "m_lessons": 1 if earning else 0,
                "m_refunds": 0 if earning else -move.amount,
                "type": move.line_type,
                "amount": move.amount,
                "gross": move.gross,
                "fee": move.fee,
                **{**link, "memo": link["memo"][:255]},
            },
        )
        .first()
    )
    if row is None:
        return None
    _sync_loaded_wallet(wallet.id, row._mapping)
    line = WalletTransaction(
        id=row.line_id,
        wallet_id=wallet.id,
        entry_id=row.entry_id,
        type=move.line_type,
        amount=move.amount,
        available_change=move.available,
        pending_change=move.pending,
        in_flight_change=move.in_flight,
        balance_after=row.balance,
        pending_after=row.pending,
        in_flight_after=row.in_flight,
        gross=move.gross,
        fee=move.fee,
        description=link["memo"][:255],
        payment_id=link["payment_id"],
        payout_id=link["payout_id"],
        booking_id=link["booking_id"],
        created_at=created_at,
    )
    so.make_transient_to_detached(line)
    db.session.add(line)
    return line


def _sync_loaded_wallet(wallet_id: int, values) -> None:
    """Keep a TutorWallet loaded in this session in step with its row."""
    loaded = db.session.identity_map.get(so.util.identity_key(TutorWallet, wallet_id))
    if loaded is not None:
        for name in ("pending", "balance", "in_flight"):
            set_committed_value(loaded, name, values[name])
        for name in ("total_earned", "total_withdrawn", "updated_at"):
            if name in values:
                set_committed_value(loaded, name, values[name])


_MONTH_UPSERTS: dict[str, sa.Insert] = {}


def _add_to_month(connection, wallet_id: int, when: datetime, move: _Move) -> None:
    """Add an earning or a refund to the wallet's totals for its calendar month (UTC)."""
    earning = move.line_type in EARNING_TYPES
    connection.execute(
        _month_upsert(connection.dialect.name),
        {
            "wallet_id": wallet_id,
            "month": when.astimezone(UTC).date().replace(day=1),
            "earned": move.amount if earning else 0,
            "fees": move.fee if earning else 0,
            "lessons": 1 if earning else 0,
            "refunds": 0 if earning else -move.amount,
        },
    )


def _month_upsert(dialect: str) -> sa.Insert:
    if dialect not in _MONTH_UPSERTS:
        table = WalletMonth.__table__
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        sums = {name: table.c[name] + insert.excluded[name] for name in MONTH_FIGURES}
        _MONTH_UPSERTS[dialect] = insert.on_conflict_do_update(
            index_elements=["wallet_id", "month"], set_=sums
        )
    return _MONTH_UPSERTS[dialect]


MONTH_FIGURES = ("earned", "fees", "lessons", "refunds")


def rebuild_monthly_totals(wallet_id: int) -> None:
    """Recompute a wallet's monthly totals from its statement (a repair tool; bulk loads)."""
    table = WalletMonth.__table__
    db.session.execute(sa.delete(table).where(table.c.wallet_id == wallet_id))
    month = _bucket_sql("month")
    figures = _figures()
    db.session.execute(
        sa.insert(table).from_select(
            ["wallet_id", "month", *MONTH_FIGURES],
            sa.select(WalletTransaction.wallet_id, month, *figures)
            .where(
                WalletTransaction.wallet_id == wallet_id,
                WalletTransaction.type.in_(_MONTHLY_TYPES),
            )
            .group_by(WalletTransaction.wallet_id, month),
        )
    )


def _bigint(name: str):
    return sa.bindparam(name, type_=sa.BigInteger)


# Built once: the statements of every movement, with parameters bound per call.
_w = TutorWallet.__table__.c
_MOVE_WALLET = (
    sa.update(TutorWallet.__table__)
    .where(_w.id == sa.bindparam("wallet_id"))
    .values(
        pending=_w.pending + _bigint("d_pending"),
        balance=_w.balance + _bigint("d_balance"),
        in_flight=_w.in_flight + _bigint("d_in_flight"),
        total_earned=_w.total_earned + _bigint("d_earned"),
        total_withdrawn=_w.total_withdrawn + _bigint("d_withdrawn"),
        updated_at=sa.bindparam("now", type_=TutorWallet.__table__.c.updated_at.type),
    )
    .returning(
        _w.pending, _w.balance, _w.in_flight, _w.total_earned, _w.total_withdrawn, _w.updated_at
    )
)
_LINE_INSERT = sa.insert(WalletTransaction.__table__).returning(WalletTransaction.__table__.c.id)
_TOUCH_WALLET = (
    sa.update(TutorWallet.__table__)
    .where(_w.tutor_id == sa.bindparam("tutor_id"))
    .values(tutor_id=_w.tutor_id)
)
_LOCKS: dict[tuple, sa.Select] = {}


def _line_for(entry_id: int) -> WalletTransaction:
    return db.session.scalar(
        sa.select(WalletTransaction).where(WalletTransaction.entry_id == entry_id)
    )


def _begin(tutor_id: int, key: str, kind: str, platform: tuple[str, ...] = ()):
    """Lock the wallet and look the key up: (wallet, existing line or None, account ids).

    One round trip on PostgreSQL: the key and the platform accounts ride along with the
    wallet's ``SELECT … FOR UPDATE``.
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
        return wallet, _line_for(entry.id), accounts
    return wallet, None, accounts


# --- earnings -------------------------------------------------------------------------


def process_lesson_earning(
    *,
    tutor_id: int,
    gross: int,
    fee: int,
    idempotency_key: str,
    booking_id: int | None = None,
    payment_id: int | None = None,
    actor_id: int | None = None,
    memo: str = "",
) -> WalletTransaction:
    """A lesson payment was captured: the tutor's net share goes into pending.

    Provider cash +gross, fee revenue -fee, tutor pending -(gross - fee); the wallet's
    pending and total_earned grow by the net. Statement line type ``earning``.
    """
    return _earn(
        EntryKind.LESSON_EARNING,
        TransactionType.EARNING,
        tutor_id=tutor_id,
        gross=gross,
        fee=fee,
        key=idempotency_key,
        booking_id=booking_id,
        payment_id=payment_id,
        actor_id=actor_id,
        memo=memo,
    )


def process_subscription_earning(
    *,
    tutor_id: int,
    gross: int,
    fee: int,
    idempotency_key: str,
    booking_id: int | None = None,
    payment_id: int | None = None,
    actor_id: int | None = None,
    memo: str = "",
) -> WalletTransaction:
    """A subscription-covered lesson was completed: its share of the plan price earns.

    Same postings as a lesson earning (``gross`` = plan price / lessons per month), kind
    ``subscription_earning``, statement line type ``subscription_earning``.
    """
    return _earn(
        EntryKind.SUBSCRIPTION_EARNING,
        TransactionType.SUBSCRIPTION_EARNING,
        tutor_id=tutor_id,
        gross=gross,
        fee=fee,
        key=idempotency_key,
        booking_id=booking_id,
        payment_id=payment_id,
        actor_id=actor_id,
        memo=memo,
    )


def _earn(kind, line_type, *, tutor_id, gross, fee, key, booking_id, payment_id, actor_id, memo):
    gross = _amount(gross, "gross")
    fee = _part(fee, "fee", gross, "gross")
    _optional_id(booking_id, "booking_id")
    _optional_id(payment_id, "payment_id")
    wallet, existing, accounts = _begin(tutor_id, key, kind, (CASH, FEES))
    if existing is not None:
        return existing
    net = gross - fee
    move = _Move(
        kind,
        line_type,
        amount=net,
        pending=net,
        earned=net,
        gross=gross,
        fee=fee,
        platform={CASH: gross, FEES: -fee},
    )
    return _apply(
        wallet,
        move,
        accounts,
        key=key,
        memo=memo,
        actor_id=actor_id,
        payment_id=payment_id,
        booking_id=booking_id,
    )


def _remaining_pending():
    """SQL: what is still pending of the earning `LedgerEntry` (for its wallet)."""
    part = so.aliased(LedgerEntry)
    return (
        sa.select(ledger_total(LedgerPosting.amount, negate=True))
        .join(part, part.id == LedgerPosting.entry_id)
        .where(
            LedgerPosting.account_id == TutorWallet.pending_account_id,
            sa.or_(part.id == LedgerEntry.id, part.parent_id == LedgerEntry.id),
        )
        .correlate(LedgerEntry, TutorWallet)
        .scalar_subquery()
    )


def _releasable(now: datetime, tutor_id: int | None = None) -> sa.Select:
    """Earnings due for release: (tutor_id, entry id, booking id, remaining pending)."""
    cutoff = now - timedelta(days=current_app.config["EARNINGS_HOLD_DAYS"])
    remaining = _remaining_pending().label("remaining")
    released = so.aliased(LedgerEntry)
    query = (
        sa.select(LedgerEntry.tutor_id, LedgerEntry.id, LedgerEntry.booking_id, remaining)
        .join(TutorWallet, TutorWallet.tutor_id == LedgerEntry.tutor_id)
        .outerjoin(Booking, Booking.id == LedgerEntry.booking_id)
        .where(
            LedgerEntry.kind.in_(EARNING_KINDS),
            sa.or_(
                sa.and_(Booking.status == BookingStatus.COMPLETED, Booking.completed_at <= cutoff),
                sa.and_(LedgerEntry.booking_id.is_(None), LedgerEntry.created_at <= cutoff),
            ),
            ~sa.exists().where(
                released.parent_id == LedgerEntry.id,
                released.kind == EntryKind.EARNING_RELEASED.value,
            ),
        )
        .order_by(LedgerEntry.tutor_id, LedgerEntry.id)
    )
    if tutor_id is not None:
        query = query.where(LedgerEntry.tutor_id == tutor_id)
    return query


def release_pending_earnings(now: datetime | None = None) -> int:
    """Move every due earning from pending to available; returns how many were released.

    Due: see the module docstring's release rule. Wallets are locked in tutor order (no
    deadlock between two runs), and what remains pending is recomputed under the lock.
    One unit of work for all tutors; the hourly task goes tutor by tutor instead.
    """
    now = now or utcnow()
    return sum(release_earnings_of(tutor_id, now) for tutor_id in tutors_with_due_earnings(now))


def tutors_with_due_earnings(now: datetime) -> list[int]:
    return sorted({row.tutor_id for row in db.session.execute(_releasable(now))})


def release_earnings_of(tutor_id: int, now: datetime) -> int:
    """Release one tutor's due earnings (locking their wallet); how many were released."""
    released = 0
    wallet = lock_wallet(tutor_id)
    for row in db.session.execute(_releasable(now, tutor_id)).all():
        if row.remaining <= 0:
            continue
        key = f"earning:{row.id}:released"
        move = _Move(
            EntryKind.EARNING_RELEASED,
            TransactionType.RELEASE,
            amount=row.remaining,
            pending=-row.remaining,
            available=row.remaining,
        )
        _apply(wallet, move, {}, key=key, booking_id=row.booking_id, parent_id=row.id)
        released += 1
    return released


# --- refunds --------------------------------------------------------------------------


def process_refund_deduction(
    *,
    tutor_id: int,
    refund: int,
    fee_part: int,
    idempotency_key: str,
    payment_id: int | None = None,
    booking_id: int | None = None,
    actor_id: int | None = None,
    memo: str = "",
) -> WalletTransaction:
    """A payment was (partly) refunded: take the tutor's share back.

    Provider cash -refund, fee revenue +fee_part; the share (refund - fee_part) comes out
    of what is still pending for that payment's earning, the rest out of available
    (which may go negative: a debt). total_earned shrinks by the share.
    """
    refund = _amount(refund, "refund")
    fee_part = _part(fee_part, "fee_part", refund, "refund")
    _optional_id(payment_id, "payment_id")
    _optional_id(booking_id, "booking_id")
    wallet, existing, accounts = _begin(tutor_id, idempotency_key, EntryKind.REFUND, (CASH, FEES))
    if existing is not None:
        return existing
    share = refund - fee_part
    earning_id, still_pending = _pending_for(wallet, payment_id, booking_id)
    from_pending = min(share, still_pending)
    move = _Move(
        EntryKind.REFUND,
        TransactionType.REFUND,
        amount=-share,
        pending=-from_pending,
        available=-(share - from_pending),
        earned=-share,
        gross=refund,
        fee=fee_part,
        platform={CASH: -refund, FEES: fee_part},
    )
    return _apply(
        wallet,
        move,
        accounts,
        key=idempotency_key,
        memo=memo,
        actor_id=actor_id,
        payment_id=payment_id,
        booking_id=booking_id,
        parent_id=earning_id,
    )


def reverse_refund_deduction(
    *,
    tutor_id: int,
    refund_key: str,
    idempotency_key: str,
    actor_id: int | None = None,
    memo: str = "",
) -> WalletTransaction | None:
    """The provider could not pay a refund out: give back exactly what its deduction took.

    `refund_key` is the deduction's idempotency key. Provider cash +refund, fee revenue
    -fee_part; what the deduction took from pending goes back to pending while the
    earning is unreleased (else to available), the rest to available; total_earned grows
    by the share again. None when that refund took nothing from this wallet.
    """
    ledger.check_key(refund_key)
    wallet, existing, accounts = _begin(
        tutor_id, idempotency_key, EntryKind.REFUND_REVERSED, (CASH, FEES)
    )
    if existing is not None:
        return existing
    found = db.session.execute(
        sa.select(WalletTransaction, LedgerEntry.parent_id)
        .join(LedgerEntry, LedgerEntry.id == WalletTransaction.entry_id)
        .where(
            LedgerEntry.idempotency_key == refund_key,
            LedgerEntry.kind == EntryKind.REFUND.value,
            LedgerEntry.tutor_id == tutor_id,
        )
    ).first()
    if found is None:
        return None
    deduction, earning_id = found
    share = -deduction.amount
    to_pending = 0 if _released(earning_id) else -deduction.pending_change
    move = _Move(
        EntryKind.REFUND_REVERSED,
        TransactionType.REFUND_REVERSED,
        amount=share,
        pending=to_pending,
        available=share - to_pending,
        earned=share,
        gross=-deduction.gross,
        fee=-deduction.fee,
        platform={CASH: deduction.gross, FEES: -deduction.fee},
    )
    return _apply(
        wallet,
        move,
        accounts,
        key=idempotency_key,
        memo=memo,
        actor_id=actor_id,
        payment_id=deduction.payment_id,
        booking_id=deduction.booking_id,
        parent_id=earning_id,
    )


def _released(earning_id: int | None) -> bool:
    """Whether the earning has left pending (an entry without an earning never sat there)."""
    if earning_id is None:
        return True
    return db.session.scalar(
        sa.select(
            sa.exists().where(
                LedgerEntry.parent_id == earning_id,
                LedgerEntry.kind == EntryKind.EARNING_RELEASED.value,
            )
        )
    )


def _pending_for(wallet, payment_id, booking_id) -> tuple[int | None, int]:
    """The earning a refund belongs to and what of it is still pending (0 if released)."""
    if payment_id is None and booking_id is None:
        return None, 0
    link = (
        LedgerEntry.payment_id == payment_id
        if payment_id is not None
        else LedgerEntry.booking_id == booking_id
    )
    row = db.session.execute(
        sa.select(LedgerEntry.id, _remaining_pending())
        .join(TutorWallet, TutorWallet.tutor_id == LedgerEntry.tutor_id)
        .where(LedgerEntry.tutor_id == wallet.tutor_id, LedgerEntry.kind.in_(EARNING_KINDS), link)
        .order_by(LedgerEntry.id.desc())
        .limit(1)
    ).first()
    return (row[0], max(row[1], 0)) if row else (None, 0)


# --- adjustments ----------------------------------------------------------------------


def credit_wallet(
    *, tutor_id: int, amount: int, reason: str, idempotency_key: str, actor_id: int | None = None
) -> WalletTransaction:
    """An admin adds money to the tutor's available balance (e.g. a goodwill payment)."""
    amount = _amount(amount)
    reason = _reason(reason)
    kind = EntryKind.ADJUSTMENT_CREDIT
    wallet, existing, accounts = _begin(tutor_id, idempotency_key, kind, (ADJUSTMENTS,))
    if existing is not None:
        return existing
    move = _Move(
        kind,
        TransactionType.CREDIT,
        amount=amount,
        available=amount,
        platform={ADJUSTMENTS: amount},
    )
    return _apply(wallet, move, accounts, key=idempotency_key, memo=reason, actor_id=actor_id)


def debit_wallet(
    *, tutor_id: int, amount: int, reason: str, idempotency_key: str, actor_id: int | None = None
) -> WalletTransaction:
    """An admin takes money from the available balance; never more than is there (409)."""
    amount = _amount(amount)
    reason = _reason(reason)
    kind = EntryKind.ADJUSTMENT_DEBIT
    wallet, existing, accounts = _begin(tutor_id, idempotency_key, kind, (ADJUSTMENTS,))
    if existing is not None:
        return existing
    if amount > wallet.balance:
        raise InsufficientFunds(
            f"The available balance is {_money(wallet.balance)}; "
            f"{_money(amount)} cannot be debited."
        )
    move = _Move(
        kind,
        TransactionType.DEBIT,
        amount=-amount,
        available=-amount,
        platform={ADJUSTMENTS: -amount},
    )
    return _apply(wallet, move, accounts, key=idempotency_key, memo=reason, actor_id=actor_id)


# --- payouts --------------------------------------------------------------------------


def reserve_payout(
    *,
    tutor_id: int,
    amount: int,
    idempotency_key: str,
    payout_id: int,
    actor_id: int | None = None,
    memo: str = "",
) -> WalletTransaction:
    """A payout was requested: move `amount` from available into in flight.

    Refused with `InsufficientFunds` when the wallet is in debt or `amount` is more than
    is available. (The payout minimum and method rules belong to the payouts feature.)
    """
    amount = _amount(amount)
    require_int(payout_id, "payout_id")
    kind = EntryKind.PAYOUT_RESERVED
    wallet, existing, accounts = _begin(tutor_id, idempotency_key, kind)
    if existing is not None:
        return existing
    if wallet.balance < 0:
        raise InsufficientFunds(
            f"Your balance is in debt by {_money(-wallet.balance)}: payouts resume once "
            "later earnings cover it."
        )
    if amount > wallet.balance:
        raise InsufficientFunds(
            f"You can pay out at most {_money(wallet.balance)}, the available balance."
        )
    move = _Move(kind, TransactionType.PAYOUT, amount=-amount, available=-amount, in_flight=amount)
    return _apply(
        wallet,
        move,
        accounts,
        key=idempotency_key,
        memo=memo,
        actor_id=actor_id,
        payout_id=payout_id,
    )


def release_payout_reservation(
    *,
    tutor_id: int,
    amount: int,
    idempotency_key: str,
    payout_id: int,
    actor_id: int | None = None,
    memo: str = "",
) -> WalletTransaction:
    """A payout was cancelled or failed: move `amount` from in flight back to available."""
    return _settle_payout(
        EntryKind.PAYOUT_RETURNED,
        TransactionType.PAYOUT_RETURNED,
        tutor_id=tutor_id,
        amount=amount,
        key=idempotency_key,
        payout_id=payout_id,
        actor_id=actor_id,
        memo=memo,
    )


def complete_payout_funds(
    *,
    tutor_id: int,
    amount: int,
    idempotency_key: str,
    payout_id: int,
    actor_id: int | None = None,
    memo: str = "",
) -> WalletTransaction:
    """A payout arrived: move `amount` from in flight to paid out; total_withdrawn grows."""
    return _settle_payout(
        EntryKind.PAYOUT_COMPLETED,
        TransactionType.PAYOUT_COMPLETED,
        tutor_id=tutor_id,
        amount=amount,
        key=idempotency_key,
        payout_id=payout_id,
        actor_id=actor_id,
        memo=memo,
    )


def _settle_payout(kind, line_type, *, tutor_id, amount, key, payout_id, actor_id, memo):
    amount = _amount(amount)
    require_int(payout_id, "payout_id")
    wallet, existing, accounts = _begin(tutor_id, key, kind, (PAID_OUT,))
    if existing is not None:
        return existing
    reserved = _in_flight_for(wallet, payout_id)
    if amount > reserved:
        raise Conflict(
            f"Payout {payout_id} has {_money(reserved)} in flight, not {_money(amount)}.",
            code="not_in_flight",
        )
    if kind == EntryKind.PAYOUT_COMPLETED:
        move = _Move(
            kind,
            line_type,
            amount=-amount,
            in_flight=-amount,
            withdrawn=amount,
            platform={PAID_OUT: -amount},
        )
    else:
        move = _Move(kind, line_type, amount=amount, in_flight=-amount, available=amount)
    return _apply(
        wallet, move, accounts, key=key, memo=memo, actor_id=actor_id, payout_id=payout_id
    )


def _in_flight_for(wallet: TutorWallet, payout_id: int) -> int:
    return -db.session.scalar(
        sa.select(ledger_total(LedgerPosting.amount))
        .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
        .where(
            LedgerEntry.payout_id == payout_id,
            LedgerPosting.account_id == wallet.in_flight_account_id,
        )
    )


def _money(amount: int) -> str:
    from portal.money import format_money

    return format_money(amount)


# --- reading --------------------------------------------------------------------------


@dataclass(frozen=True)
class WalletSummary:
    exists: bool
    currency: str
    wallet_id: int | None = None
    balance: int = 0
    pending: int = 0
    in_flight: int = 0
    total_earned: int = 0
    total_withdrawn: int = 0
    payout_threshold: int = 0
    auto_payout_enabled: bool = False

    @property
    def debt(self) -> int:
        return -self.balance if self.balance < 0 else 0

    @property
    def owed(self) -> int:
        """Everything the platform holds for the tutor: pending + available + in flight."""
        return self.pending + self.balance + self.in_flight

    @property
    def is_empty(self) -> bool:
        return not self.exists or not (
            self.total_earned
            or self.balance
            or self.pending
            or self.in_flight
            or self.total_withdrawn
        )


def get_wallet_summary(tutor_id: int) -> WalletSummary:
    """The wallet's figures in one query; a tutor without a wallet gets zeros, unwritten."""
    wallet = get_wallet(tutor_id)
    config = current_app.config
    if wallet is None:
        return WalletSummary(
            exists=False,
            currency=config["PLATFORM_CURRENCY"],
            payout_threshold=config["MIN_PAYOUT_AMOUNT"],
        )
    return WalletSummary(
        exists=True,
        currency=wallet.currency,
        wallet_id=wallet.id,
        balance=wallet.balance,
        pending=wallet.pending,
        in_flight=wallet.in_flight,
        total_earned=wallet.total_earned,
        total_withdrawn=wallet.total_withdrawn,
        payout_threshold=wallet.payout_threshold,
        auto_payout_enabled=wallet.auto_payout_enabled,
    )


def update_payout_settings(
    tutor_id: int, *, payout_threshold: int | None = None, auto_payout_enabled: bool | None = None
) -> TutorWallet:
    """Change the auto-payout threshold (at least MIN_PAYOUT_AMOUNT) and on/off switch."""
    config = current_app.config
    if payout_threshold is not None:
        payout_threshold = _amount(payout_threshold, "payout_threshold")
        minimum = config["MIN_PAYOUT_AMOUNT"]
        if payout_threshold < minimum:
            message = f"The threshold must be at least {_money(minimum)}."
            raise ValidationError(message, fields={"payout_threshold": [message]})
    if auto_payout_enabled is not None and not isinstance(auto_payout_enabled, bool):
        raise TypeError("auto_payout_enabled must be a bool")
    wallet = lock_wallet(tutor_id)
    if payout_threshold is not None:
        wallet.payout_threshold = payout_threshold
    if auto_payout_enabled is not None:
        wallet.auto_payout_enabled = auto_payout_enabled
    wallet.updated_at = utcnow()
    db.session.flush()
    return wallet


# --- analytics ------------------------------------------------------------------------

PERIODS = ("day", "week", "month")
MAX_BUCKETS = 400


@dataclass
class Bucket:
    start: date
    earned: int = 0
    fees: int = 0
    lessons: int = 0
    refunds: int = 0

    @property
    def net(self) -> int:
        return self.earned - self.refunds


def period_start(day: date, period: str) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_start(start: date, period: str) -> date:
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _bucket_sql(period: str):
    created = WalletTransaction.created_at
    if is_postgres(db.session):
        return sa.cast(sa.func.date_trunc(period, sa.func.timezone("UTC", created)), sa.Date)
    # SQLite keeps UTC datetimes as text, "YYYY-MM-DD HH:MM:SS.ffffff".
    if period == "day":
        return sa.func.substr(created, 1, 10)
    if period == "week":  # back to Monday: on to the next Sunday, then six days back
        return sa.func.date(created, "weekday 0", "-6 days")
    return sa.func.substr(created, 1, 7) + "-01"


def get_earnings_analytics(
    tutor_id: int, period: str, date_from: date, date_to: date
) -> list[Bucket]:
    """Earnings per day / week / month between two dates (inclusive), summed in SQL.

    Every bucket in the range is present, zeros included. ``earned`` is the tutors' net
    earnings (after the platform fee), ``fees`` the fee kept on them, ``lessons`` how many
    lessons earned, ``refunds`` the tutor's share given back.
    """
    if period not in PERIODS:
        raise ValidationError(
            "period must be day, week or month.", fields={"period": ["Choose day, week or month."]}
        )
    if not isinstance(date_from, date) or not isinstance(date_to, date):
        raise TypeError("date_from and date_to must be dates")
    if date_from > date_to:
        raise ValidationError(
            "The start date is after the end date.",
            fields={"from": ["Must not be after the end date."]},
        )
    starts = _bucket_starts(period, date_from, date_to)
    buckets = {start: Bucket(start) for start in starts}
    wallet = get_wallet(tutor_id)
    if wallet is None:
        return list(buckets.values())
    for row in db.session.execute(_analytics_query(wallet.id, period, date_from, date_to)):
        start = row.bucket if isinstance(row.bucket, date) else date.fromisoformat(row.bucket)
        bucket = buckets.setdefault(start, Bucket(start))
        bucket.earned, bucket.fees = int(row.earned or 0), int(row.fees or 0)
        bucket.lessons, bucket.refunds = int(row.lessons or 0), int(row.refunds or 0)
    return [buckets[key] for key in sorted(buckets)]


def _bucket_starts(period: str, date_from: date, date_to: date) -> list[date]:
    starts, start = [], period_start(date_from, period)
    while start <= date_to:
        starts.append(start)
        if len(starts) > MAX_BUCKETS:
            raise ValidationError(
                f"That range has more than {MAX_BUCKETS} {period}s; choose a shorter one "
                "or a longer period.",
                fields={"to": ["Range too long for this period."]},
            )
        start = _next_start(start, period)
    return starts


def _figures() -> list:
    """SQL sums of earned, fees, lessons, refunds over statement lines."""
    t = WalletTransaction
    is_earning = t.type.in_(EARNING_TYPES)
    zero = sa.literal(0)
    return [
        ledger_total(sa.case((is_earning, t.amount), else_=zero)).label("earned"),
        ledger_total(sa.case((is_earning, t.fee), else_=zero)).label("fees"),
        ledger_total(sa.case((is_earning, 1), else_=zero)).label("lessons"),
        ledger_total(sa.case((t.type.in_(REFUND_TYPES), -t.amount), else_=zero)).label("refunds"),
    ]


def _analytics_query(wallet_id: int, period: str, date_from: date, date_to: date):
    if period == "month" and _whole_months(date_from, date_to):
        # Whole calendar months: the monthly totals kept with each movement, ≤ 1 row each.
        m = WalletMonth
        return sa.select(m.month.label("bucket"), m.earned, m.fees, m.lessons, m.refunds).where(
            m.wallet_id == wallet_id, m.month >= date_from, m.month <= date_to
        )
    t = WalletTransaction
    bucket = _bucket_sql(period).label("bucket")
    return (
        sa.select(bucket, *_figures())
        .where(
            t.wallet_id == wallet_id,
            t.created_at >= _day_start(date_from),
            t.created_at < _day_start(date_to + timedelta(days=1)),
            t.type.in_(_MONTHLY_TYPES),
        )
        .group_by(bucket)
    )


def _whole_months(date_from: date, date_to: date) -> bool:
    """From the 1st of a month to the end of a month (or to today: no later lines exist)."""
    return date_from.day == 1 and (
        (date_to + timedelta(days=1)).day == 1 or date_to >= utcnow().date()
    )


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def last_months(count: int, today: date | None = None) -> tuple[date, date]:
    """The first and last day of the `count` calendar months ending with this one."""
    today = today or utcnow().date()
    start = today.replace(day=1)
    for _ in range(count - 1):
        start = (start - timedelta(days=1)).replace(day=1)
    return start, today


# --- the statement --------------------------------------------------------------------


@dataclass(frozen=True)
class StatementFilters:
    type: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def as_args(self) -> dict[str, str]:
        args = {}
        if self.type:
            args["type"] = self.type
        if self.date_from:
            args["from"] = self.date_from.isoformat()
        if self.date_to:
            args["to"] = self.date_to.isoformat()
        return args


def parse_statement_filters(type_: object, date_from: object, date_to: object) -> StatementFilters:
    """Filters from user input (query strings); refuses unknown types and bad date ranges."""
    errors: dict[str, list[str]] = {}
    kind = (type_ or "").strip() if isinstance(type_, str) else type_
    if kind and kind not in TRANSACTION_TYPES:
        errors["type"] = [f"Unknown transaction type {kind!r}."]
    start = parse_day(date_from, "from", errors)
    end = parse_day(date_to, "to", errors)
    if start and end and start > end:
        errors["from"] = ["The start date is after the end date."]
    if errors:
        raise ValidationError(next(iter(errors.values()))[0], fields=errors)
    return StatementFilters(kind or None, start, end)


def statement_query(wallet_id: int, filters: StatementFilters) -> sa.Select:
    """Statement lines of one wallet, newest first."""
    t = WalletTransaction
    query = sa.select(t).where(t.wallet_id == wallet_id).order_by(t.id.desc())
    if filters.type:
        query = query.where(t.type == filters.type)
    if filters.date_from:
        query = query.where(t.created_at >= _day_start(filters.date_from))
    if filters.date_to:
        query = query.where(t.created_at < _day_start(filters.date_to + timedelta(days=1)))
    return query


@dataclass
class StatementPage:
    lines: list[WalletTransaction]
    newer: int | None  # cursor for the newer page (``after=``), if there is one
    older: int | None  # cursor for the older page (``before=``), if there is one


def statement_page(
    wallet_id: int | None,
    filters: StatementFilters,
    *,
    before: int | None = None,
    after: int | None = None,
    per_page: int = 25,
) -> StatementPage:
    """One page of the statement by keyset (id cursors): the same cost on any page.

    One query: it fetches one line more than the page to know whether there is another.
    """
    if wallet_id is None:
        return StatementPage([], None, None)
    query = statement_query(wallet_id, filters)
    t = WalletTransaction
    if after is not None:  # the newer page: walk up from the cursor, then flip
        rows = list(
            db.session.scalars(
                query.where(t.id > after).order_by(None).order_by(t.id.asc()).limit(per_page + 1)
            )
        )
        more = len(rows) > per_page
        lines = list(reversed(rows[:per_page]))
        return StatementPage(lines, lines[0].id if more else None, lines[-1].id if lines else None)
    if before is not None:
        query = query.where(t.id < before)
    rows = list(db.session.scalars(query.limit(per_page + 1)))
    more = len(rows) > per_page
    lines = rows[:per_page]
    return StatementPage(
        lines,
        lines[0].id if before is not None and lines else None,
        lines[-1].id if more else None,
    )


CSV_HEADER = (
    "date",
    "type",
    "description",
    "amount",
    "available_change",
    "pending_change",
    "in_flight_change",
    "balance_after",
    "pending_after",
    "currency",
    "booking_id",
    "payment_id",
    "payout_id",
    "entry_id",
)


def statement_csv(wallet_id: int | None, filters: StatementFilters) -> Iterator[str]:
    """The whole (filtered) statement as CSV text, a chunk at a time, in constant memory.

    Rows come from a server-side cursor (`yield_per`) and leave as soon as a chunk is full.
    """
    currency = current_app.config["PLATFORM_CURRENCY"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    if wallet_id is not None:
        t = WalletTransaction
        query = (
            statement_query(wallet_id, filters)
            .with_only_columns(
                t.created_at,
                t.type,
                t.description,
                t.amount,
                t.available_change,
                t.pending_change,
                t.in_flight_change,
                t.balance_after,
                t.pending_after,
                t.booking_id,
                t.payment_id,
                t.payout_id,
                t.entry_id,
            )
            .execution_options(yield_per=2000)
        )
        major = lambda value: format_major_plain(value, currency)  # noqa: E731
        for count, row in enumerate(db.session.execute(query), start=1):
            writer.writerow(
                (
                    row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    row.type,
                    row.description,
                    major(row.amount),
                    major(row.available_change),
                    major(row.pending_change),
                    major(row.in_flight_change),
                    major(row.balance_after),
                    major(row.pending_after),
                    currency.upper(),
                    row.booking_id or "",
                    row.payment_id or "",
                    row.payout_id or "",
                    row.entry_id,
                )
            )
            if count % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()
