"""Adjustments: an admin credits or debits a tutor's available balance, with a reason.

The movement contract and money paths: `portal.wallets.movement`.
"""

from __future__ import annotations

from portal.errors import InsufficientFunds, ValidationError
from portal.ledger.models import EntryKind, PlatformAccount
from portal.money import format_money, require_int
from portal.wallets import arguments as check
from portal.wallets.models import TransactionType, WalletTransaction
from portal.wallets.movement import Move, apply, begin

ADJUSTMENTS = PlatformAccount.ADJUSTMENTS


def credit_wallet(
    *, tutor_id: int, amount: int, reason: str, idempotency_key: str, actor_id: int | None = None
) -> WalletTransaction:
    """An admin adds money to the tutor's available balance (e.g. a goodwill payment)."""
    amount = check.amount(amount)
    reason = check.reason(reason)
    kind = EntryKind.ADJUSTMENT_CREDIT
    wallet, existing, accounts = begin(tutor_id, idempotency_key, kind, (ADJUSTMENTS,))
    if existing is not None:
        return existing
    move = Move(
        kind,
        TransactionType.CREDIT,
        amount=amount,
        available=amount,
        platform={ADJUSTMENTS: amount},
    )
    return apply(wallet, move, accounts, key=idempotency_key, memo=reason, actor_id=actor_id)


def debit_wallet(
    *, tutor_id: int, amount: int, reason: str, idempotency_key: str, actor_id: int | None = None
) -> WalletTransaction:
    """An admin takes money from the available balance; never more than is there (409)."""
    amount = check.amount(amount)
    reason = check.reason(reason)
    kind = EntryKind.ADJUSTMENT_DEBIT
    wallet, existing, accounts = begin(tutor_id, idempotency_key, kind, (ADJUSTMENTS,))
    if existing is not None:
        return existing
    if amount > wallet.available:
        raise InsufficientFunds(
            f"The available balance is {format_money(wallet.available)}; "
            f"{format_money(amount)} cannot be debited."
        )
    move = Move(
        kind,
        TransactionType.DEBIT,
        amount=-amount,
        available=-amount,
        platform={ADJUSTMENTS: -amount},
    )
    return apply(wallet, move, accounts, key=idempotency_key, memo=reason, actor_id=actor_id)


def adjust_wallet(
    *, tutor_id: int, amount: int, reason: str, idempotency_key: str, actor_id: int | None = None
) -> WalletTransaction:
    """A signed adjustment: a positive amount credits the available balance, a negative
    one debits it (never below what is there); zero is refused."""
    require_int(amount, "amount")
    if amount == 0:
        message = "Enter an amount other than zero: positive credits, negative debits."
        raise ValidationError(message, fields={"amount": [message]})
    move = credit_wallet if amount > 0 else debit_wallet
    return move(
        tutor_id=tutor_id,
        amount=abs(amount),
        reason=reason,
        idempotency_key=idempotency_key,
        actor_id=actor_id,
    )
