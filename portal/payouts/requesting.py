"""The tutor's side of payouts: asking for one (by hand or automatically) and cancelling it.

A request moves its amount from available into in flight, refused when over available or
while the wallet is in debt; cancelling gives it back. The state machine and its locks are
`transitions`.
"""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from flask import current_app

from portal.accounts.models import Role, User
from portal.audit.services import record
from portal.db import utcnow
from portal.errors import Conflict, Forbidden, InsufficientFunds, ValidationError
from portal.extensions import db
from portal.money import format_money, require_int
from portal.payouts import destinations
from portal.payouts.models import PayoutMethod, PayoutRequest, PayoutStatus
from portal.payouts.transitions import lock_payout, money_key, move, return_money
from portal.validation import check_request_key
from portal.wallets.models import TutorWallet
from portal.wallets.movement import lock_wallet
from portal.wallets.payout_funds import reserve_payout
from portal.wallets.summary import get_wallet_summary


def _method(value: object) -> str:
    if value not in set(PayoutMethod):
        message = "Choose bank_transfer or stripe."
        raise ValidationError(message, fields={"payout_method": [message]})
    return str(value)


def _check_amount(amount: object) -> int:
    require_int(amount)
    config = current_app.config
    minimum, maximum = config["MIN_PAYOUT_AMOUNT"], config["MAX_AMOUNT"]
    if amount < minimum:
        message = f"The minimum payout is {format_money(minimum)}."
        raise ValidationError(message, fields={"amount": [message]}, code="below_minimum")
    if amount > maximum:
        message = f"A payout can be at most {format_money(maximum)}."
        raise ValidationError(message, fields={"amount": [message]})
    return amount


def _check_funds(balance: int, amount: int) -> None:
    if balance < 0:
        message = (
            f"Your balance is in debt by {format_money(-balance)}: payouts resume once later "
            "earnings cover it."
        )
        raise InsufficientFunds(message, fields={"amount": [message]})
    if amount > balance:
        message = f"You can pay out at most {format_money(balance)}, your available balance."
        raise InsufficientFunds(message, fields={"amount": [message]})


def check_request(tutor_id: int, amount: object, payout_method: object) -> None:
    """Every check `request_payout` makes, read-only: for a form that validates as you type."""
    amount = _check_amount(amount)
    method = _method(payout_method)
    destinations.require_details(destinations.get_destination(tutor_id), method)
    _check_funds(get_wallet_summary(tutor_id).available, amount)


def request_payout(
    tutor: User, *, amount: int, payout_method: str, request_key: object = None
) -> PayoutRequest:
    """The tutor asks for `amount` of their available balance to be paid out.

    Refuses an amount under MIN_PAYOUT_AMOUNT or over MAX_AMOUNT (400), a method without
    its details (400), and an amount over available or any amount while in debt (409).
    Moves `amount` from available into in flight. With a `request_key` (the form's, or
    the API's Idempotency-Key) asking again returns the first payout: a double click
    makes one payout.
    """
    if tutor.role != Role.TUTOR:
        raise Forbidden("Only tutors can request payouts.")
    key = None
    if request_key is not None:
        key = f"tutor:{tutor.id}:{check_request_key(request_key)}"
        lock_wallet(tutor.id)  # a second click waits here for the first
        asked = db.session.scalar(sa.select(PayoutRequest).where(PayoutRequest.request_key == key))
        if asked is not None:
            if (asked.amount, asked.payout_method) != (amount, payout_method):
                raise Conflict(
                    "That request key was used for another payout.", code="idempotency_conflict"
                )
            return asked
    return _create(tutor.id, amount, payout_method, actor_id=tutor.id, request_key=key)


def _create(
    tutor_id: int,
    amount: object,
    payout_method: object,
    *,
    actor_id: int | None,
    request_key: str | None = None,
    auto: bool = False,
) -> PayoutRequest:
    amount = _check_amount(amount)
    method = _method(payout_method)
    destination = destinations.get_destination(tutor_id)
    destinations.require_details(destination, method)
    wallet = lock_wallet(tutor_id)
    _check_funds(wallet.available, amount)
    payout = PayoutRequest(
        uuid=uuid.uuid4(), wallet_id=wallet.id, tutor_id=tutor_id, amount=amount,
        currency=wallet.currency, status=PayoutStatus.PENDING, payout_method=method,
        requested_by_id=actor_id, auto=auto, request_key=request_key,
        created_at=utcnow(), updated_at=utcnow(), **destinations.snapshot(destination, method),
    )  # fmt: skip
    db.session.add(payout)
    db.session.flush()
    reserve_payout(
        tutor_id=tutor_id, amount=amount, idempotency_key=money_key(payout, "requested"),
        payout_id=payout.id, actor_id=actor_id, memo=f"Payout {str(payout.uuid)[:8]} requested",
    )  # fmt: skip
    record("payout.requested", object_type="payout", object_id=payout.uuid, actor_id=actor_id,
           after={"status": payout.status, "amount": amount, "payout_method": method,
                  "destination": payout.destination, "auto": payout.auto})  # fmt: skip
    return payout


def auto_payout_method(tutor_id: int) -> str | None:
    """Auto-payouts go to the Stripe account when there is one, else to the bank."""
    ready = destinations.ready_methods(destinations.get_destination(tutor_id))
    for method in (PayoutMethod.STRIPE, PayoutMethod.BANK_TRANSFER):
        if method in ready:
            return method
    return None


def request_auto_payout(tutor_id: int, day: date) -> PayoutRequest | None:
    """Pay out the whole available balance if auto-payout is on and it reached the threshold.

    At most one auto-payout per tutor per day (the request key); returns None when there
    is nothing to do. The wallet is locked before the checks, so two runs at once agree.
    """
    key = f"auto:{tutor_id}:{day.isoformat()}"
    method = auto_payout_method(tutor_id)
    if method is None:
        return None
    wallet = lock_wallet(tutor_id)
    due = wallet.auto_payout_enabled and wallet.available >= wallet.payout_threshold
    taken = db.session.scalar(sa.select(PayoutRequest.id).where(PayoutRequest.request_key == key))
    if not due or taken is not None:
        return None
    return _create(tutor_id, wallet.available, method, actor_id=None, request_key=key, auto=True)


def auto_payout_candidates() -> list[int]:
    """Tutors whose wallet has auto-payout on and available at or above the threshold."""
    return list(
        db.session.scalars(
            sa.select(TutorWallet.tutor_id)
            .where(
                TutorWallet.auto_payout_enabled.is_(True),
                TutorWallet.available >= TutorWallet.payout_threshold,
            )
            .order_by(TutorWallet.tutor_id)
        )
    )


def cancel_payout(tutor: User, payout_id: object) -> PayoutRequest:
    """The tutor withdraws a pending request; the money goes back to available."""
    payout = lock_payout(payout_id, tutor_id=tutor.id)
    move(payout, "cancel", tutor.id)
    return_money(payout, "cancelled", tutor.id)
    db.session.flush()
    return payout
