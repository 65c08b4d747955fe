"""Refunds of a tutor's earning: the deduction, and its reversal when the provider could
not pay the refund out.

**Refund rule.** The tutor's share (``refund - fee_part``) comes back out of what is
still pending for that payment's earning; whatever is left comes out of available,
which may go negative: a debt that blocks payouts until later earnings cover it.
A refund the provider could not pay out is reversed: the share goes back where it came
from (to available instead of pending once the earning has been released).

The movement contract and money paths: `portal.wallets.movement`.
"""

from __future__ import annotations

import sqlalchemy as sa

from portal.extensions import db
from portal.ledger.models import EARNING_KINDS, EntryKind, LedgerEntry, PlatformAccount
from portal.ledger.posting import check_key
from portal.wallets import arguments as check
from portal.wallets.earnings import remaining_pending
from portal.wallets.models import TransactionType, TutorWallet, WalletTransaction
from portal.wallets.movement import Move, apply, begin

CASH = PlatformAccount.PROVIDER_CASH
FEES = PlatformAccount.FEE_REVENUE


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
    refund = check.amount(refund, "refund")
    fee_part = check.part(fee_part, "fee_part", refund, "refund")
    check.optional_id(payment_id, "payment_id")
    check.optional_id(booking_id, "booking_id")
    wallet, existing, accounts = begin(tutor_id, idempotency_key, EntryKind.REFUND, (CASH, FEES))
    if existing is not None:
        return existing
    share = refund - fee_part
    earning_id, still_pending = _pending_for(wallet, payment_id, booking_id)
    from_pending = min(share, still_pending)
    move = Move(
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
    return apply(
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
    check_key(refund_key)
    wallet, existing, accounts = begin(
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
    move = Move(
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
    return apply(
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
        sa.select(LedgerEntry.id, remaining_pending())
        .join(TutorWallet, TutorWallet.tutor_id == LedgerEntry.tutor_id)
        .where(LedgerEntry.tutor_id == wallet.tutor_id, LedgerEntry.kind.in_(EARNING_KINDS), link)
        .order_by(LedgerEntry.id.desc())
        .limit(1)
    ).first()
    return (row[0], max(row[1], 0)) if row else (None, 0)
