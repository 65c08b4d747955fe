"""A payout's money in the wallet: reserved from available into in flight when it is
requested, back to available when it is cancelled or fails, paid out when it arrives.

The payout's own rules (minimum, method, states) belong to `portal.payouts`; the
movement contract and money paths: `portal.wallets.movement`.
"""

from __future__ import annotations

import sqlalchemy as sa

from portal.errors import Conflict, InsufficientFunds
from portal.extensions import db
from portal.ledger.accounts import total
from portal.ledger.models import EntryKind, LedgerEntry, LedgerPosting, PlatformAccount
from portal.money import format_money, require_int
from portal.wallets import arguments as check
from portal.wallets.models import TransactionType, TutorWallet, WalletTransaction
from portal.wallets.movement import Move, apply, begin

PAID_OUT = PlatformAccount.PAYOUTS_PAID


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
    amount = check.amount(amount)
    require_int(payout_id, "payout_id")
    kind = EntryKind.PAYOUT_RESERVED
    wallet, existing, accounts = begin(tutor_id, idempotency_key, kind)
    if existing is not None:
        return existing
    if wallet.available < 0:
        raise InsufficientFunds(
            f"Your balance is in debt by {format_money(-wallet.available)}: payouts resume once "
            "later earnings cover it."
        )
    if amount > wallet.available:
        raise InsufficientFunds(
            f"You can pay out at most {format_money(wallet.available)}, the available balance."
        )
    move = Move(kind, TransactionType.PAYOUT, amount=-amount, available=-amount, in_flight=amount)
    return apply(
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
    amount = check.amount(amount)
    require_int(payout_id, "payout_id")
    wallet, existing, accounts = begin(tutor_id, key, kind, (PAID_OUT,))
    if existing is not None:
        return existing
    reserved = _in_flight_for(wallet, payout_id)
    if amount > reserved:
        raise Conflict(
            f"Payout {payout_id} has {format_money(reserved)} in flight, "
            f"not {format_money(amount)}.",
            code="not_in_flight",
        )
    if kind == EntryKind.PAYOUT_COMPLETED:
        move = Move(
            kind,
            line_type,
            amount=-amount,
            in_flight=-amount,
            withdrawn=amount,
            platform={PAID_OUT: -amount},
        )
    else:
        move = Move(kind, line_type, amount=amount, in_flight=-amount, available=amount)
    return apply(wallet, move, accounts, key=key, memo=memo, actor_id=actor_id, payout_id=payout_id)


def _in_flight_for(wallet: TutorWallet, payout_id: int) -> int:
    return -db.session.scalar(
        sa.select(total(LedgerPosting.amount))
        .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
        .where(
            LedgerEntry.payout_id == payout_id,
            LedgerPosting.account_id == wallet.in_flight_account_id,
        )
    )
