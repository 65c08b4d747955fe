"""Payout requests: their state machine, and the money each transition moves.

    pending ──approve──▶ approved ──process──▶ processing ──complete──▶ completed
       │                    │                      │
       ├──cancel──▶ cancelled (the tutor)          │
       └──fail──▶ failed ◀──fail── (an admin) ◀────┘ (an admin, or the transfer failed)

`TRANSITIONS` is the only place that says which status may become which. Every
transition locks the payout row first, checks the table, and refuses anything else with
`InvalidTransition` (409) before writing. Money moves only through the wallet service,
idempotent by ``payout:<uuid>:requested|cancelled|failed|completed``:

- request: available → in flight (refused when over available or while in debt);
- cancel / fail: in flight → available;
- complete: in flight → paid out (total_withdrawn grows).

While the tutor's wallet owes money (available below zero, after refunds of released
earnings), approve, process and complete refuse with `InDebt` (409 ``in_debt``), and bulk
approve skips the payout: the platform does not pay out money it is owed. Cancel and fail
still work, and give the money back to available, which reduces the debt.

Processing a ``stripe`` payout creates a Stripe transfer to the tutor's connected account
with the payout's uuid as idempotency key, while the row stays locked: a second admin
waits, then finds it no longer approved. A refused transfer fails the payout and returns
the money; an unreachable Stripe raises `GatewayError`, the caller rolls back and the
payout stays approved. Before each transfer, and before a Stripe payout is failed, Stripe
is asked for a transfer grouped under the payout's uuid: one whose answer was lost (a
timeout, a commit that failed after Stripe paid) is recorded, never made twice, however
late the retry (the idempotency key alone lasts a day at Stripe). A
``bank_transfer`` payout waits in ``processing`` until an admin completes it with the
bank's reference.

Lock order is payout row, then wallet row, everywhere.

Functions flush and never commit; the view or task owns the unit of work.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from flask import current_app

from portal.accounts.models import Role, User
from portal.audit.services import record
from portal.db import is_postgres, utcnow
from portal.errors import (
    Conflict,
    Forbidden,
    InsufficientFunds,
    InvalidTransition,
    NotFound,
    ValidationError,
)
from portal.extensions import db
from portal.money import format_money, require_int
from portal.payouts import destinations
from portal.payouts.models import PayoutMethod, PayoutRequest, PayoutStatus
from portal.payouts.notifications import notify_after_commit
from portal.providers import get_provider
from portal.providers.base import ProviderRejected, ProviderUnavailable
from portal.validation import check_request_key
from portal.wallets.models import TutorWallet
from portal.wallets.movement import lock_wallet
from portal.wallets.payout_funds import (
    complete_payout_funds,
    release_payout_reservation,
    reserve_payout,
)
from portal.wallets.summary import get_wallet_summary

S = PayoutStatus


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str
    stamp: str  # fills `<stamp>_at` and `<stamp>_by_id`
    verb: str  # for messages: "A completed payout cannot be <verb>."


TRANSITIONS: dict[str, Transition] = {
    "approve": Transition(frozenset({S.PENDING}), S.APPROVED, "approved", "approved"),
    "process": Transition(frozenset({S.APPROVED}), S.PROCESSING, "processed", "processed"),
    "complete": Transition(frozenset({S.PROCESSING}), S.COMPLETED, "completed", "completed"),
    "fail": Transition(
        frozenset({S.PENDING, S.APPROVED, S.PROCESSING}), S.FAILED, "failed", "marked failed"
    ),
    "cancel": Transition(frozenset({S.PENDING}), S.CANCELLED, "cancelled", "cancelled"),
}
ADMIN_ACTIONS = ("approve", "process", "complete", "fail")
MAX_BULK = 1000


def allowed_actions(status: str) -> list[str]:
    """The actions the state machine allows from `status`, in table order."""
    return [name for name, t in TRANSITIONS.items() if status in t.sources]


def money_key(payout: PayoutRequest, event: str) -> str:
    return f"payout:{payout.uuid}:{event}"


# --- locking and the one transition function ------------------------------------------


def _uuid(value: object) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound("No such payout.") from None


def _lock_query(query: sa.Select, *where) -> sa.Select:
    """`query` locking the payout rows matched by `where` until the transaction ends."""
    if is_postgres(db.session):
        return query.with_for_update(of=PayoutRequest)
    # SQLite has no row locks: a write takes the database's write lock, which serializes
    # every other writer until this transaction ends.
    db.session.execute(
        sa.update(PayoutRequest)
        .where(*where)
        .values(status=PayoutRequest.status)
        .execution_options(synchronize_session=False)
    )
    return query


def _locked(payout_id: object, *, tutor_id: int | None = None) -> PayoutRequest:
    """The payout row, locked for the rest of the transaction; another tutor's is a 404."""
    where = [PayoutRequest.uuid == _uuid(payout_id)]
    if tutor_id is not None:
        where.append(PayoutRequest.tutor_id == tutor_id)
    query = sa.select(PayoutRequest).where(*where)
    payout = db.session.scalar(_lock_query(query, *where).execution_options(populate_existing=True))
    if payout is None:
        raise NotFound("No such payout.")
    return payout


def _move(payout: PayoutRequest, action: str, actor_id: int | None, **changes) -> None:
    """Apply one transition of the table to a locked payout and record it."""
    transition = TRANSITIONS[action]
    if payout.status not in transition.sources:
        article = "An" if payout.status[0] in "aeiou" else "A"
        raise InvalidTransition(
            f"{article} {payout.status} payout cannot be {transition.verb}.",
            fields={"status": [payout.status]},
        )
    before = {"status": payout.status}
    now = utcnow()
    payout.status = transition.target
    setattr(payout, f"{transition.stamp}_at", now)
    setattr(payout, f"{transition.stamp}_by_id", actor_id)
    payout.updated_at = now
    for name, value in changes.items():
        setattr(payout, name, value)
    record(
        f"payout.{transition.target}",
        object_type="payout",
        object_id=payout.uuid,
        actor_id=actor_id,
        before=before,
        after={"status": payout.status, **changes},
    )
    notify_after_commit(payout)


def _admin_id(actor: User | None) -> int | None:
    """None is the portal itself (a task); a person must be an admin."""
    if actor is None:
        return None
    if actor.role != Role.ADMIN:
        raise Forbidden("Only an admin can do this to a payout.")
    return actor.id


# --- requesting -----------------------------------------------------------------------


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
    Moves `amount` from available into in flight. With a `request_key` (the form's hidden
    key) asking again returns the first payout: a double click makes one payout (the API's
    `Idempotency-Key` is kept apart, by `portal.idempotency`).
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
        currency=wallet.currency, status=S.PENDING, payout_method=method,
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


# --- the tutor's transition -----------------------------------------------------------


def cancel_payout(tutor: User, payout_id: object) -> PayoutRequest:
    """The tutor withdraws a pending request; the money goes back to available."""
    payout = _locked(payout_id, tutor_id=tutor.id)
    _move(payout, "cancel", tutor.id)
    _return_money(payout, "cancelled", tutor.id)
    db.session.flush()
    return payout


def _return_money(payout: PayoutRequest, event: str, actor_id: int | None) -> None:
    release_payout_reservation(
        tutor_id=payout.tutor_id, amount=payout.amount, idempotency_key=money_key(payout, event),
        payout_id=payout.id, actor_id=actor_id, memo=f"Payout {str(payout.uuid)[:8]} {event}",
    )  # fmt: skip


# --- the admin's transitions ----------------------------------------------------------


class InDebt(Conflict):
    code = "in_debt"


def _tutor_in_debt(payout: PayoutRequest) -> bool:
    # Locked after the payout row (the lock order everywhere), so a refund cannot push the
    # wallet into debt between this check and the step.
    return lock_wallet(payout.tutor_id).available < 0


def _tutors_in_debt(tutor_ids: set[int]) -> set[int]:
    """`_tutor_in_debt` for many tutors in one query: their wallets locked in tutor order."""
    if not tutor_ids:
        return set()
    query = (
        sa.select(TutorWallet.tutor_id, TutorWallet.available)
        .where(TutorWallet.tutor_id.in_(sorted(tutor_ids)))
        .order_by(TutorWallet.tutor_id)
    )
    if is_postgres(db.session):
        # SQLite: the payouts' write lock already holds the whole database.
        query = query.with_for_update(of=TutorWallet)
    return {tutor_id for tutor_id, available in db.session.execute(query) if available < 0}


def _refuse_in_debt(payout: PayoutRequest) -> None:
    if payout.status in TRANSITIONS["fail"].sources and _tutor_in_debt(payout):
        raise InDebt(
            "The tutor's balance is in debt (refunds came after this payout was asked for): "
            "it cannot go ahead until later earnings pay the debt back; fail it to return the "
            "money to the balance.",
            fields={"status": [payout.status]},
        )


def approve_payout(actor: User | None, payout_id: object) -> PayoutRequest:
    actor_id = _admin_id(actor)
    payout = _locked(payout_id)
    _refuse_in_debt(payout)
    _move(payout, "approve", actor_id)
    db.session.flush()
    return payout


@dataclass
class BulkResult:
    approved: list[PayoutRequest] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (uuid, why)


def approve_payouts(actor: User | None, payout_ids: Iterable[object]) -> BulkResult:
    """Approve many payouts at once; those not pending (or not found) are skipped, not fatal.

    One locking query for all rows (in id order, so two bulk approvals cannot deadlock),
    then one for their tutors' wallets (in tutor order, after the payouts as everywhere),
    then the same transition as `approve_payout` on each.
    """
    actor_id = _admin_id(actor)
    ids = list(dict.fromkeys(_uuid(value) for value in payout_ids))
    if not ids:
        raise ValidationError("Select at least one payout.", fields={"ids": ["Select some."]})
    if len(ids) > MAX_BULK:
        raise ValidationError(f"Approve at most {MAX_BULK} payouts at once.",
                              fields={"ids": [f"At most {MAX_BULK}."]})  # fmt: skip
    where = PayoutRequest.uuid.in_(ids)
    query = sa.select(PayoutRequest).where(where).order_by(PayoutRequest.id)
    rows = db.session.scalars(
        _lock_query(query, where).execution_options(populate_existing=True)
    ).all()
    result = BulkResult()
    approvable = TRANSITIONS["approve"].sources
    in_debt = _tutors_in_debt({p.tutor_id for p in rows if p.status in approvable})
    for payout in rows:
        if payout.status in approvable and payout.tutor_id in in_debt:
            result.skipped.append((str(payout.uuid), "tutor in debt"))
        elif payout.status in TRANSITIONS["approve"].sources:
            _move(payout, "approve", actor_id)
            result.approved.append(payout)
        else:
            result.skipped.append((str(payout.uuid), f"already {payout.status}"))
    found = {payout.uuid for payout in rows}
    result.skipped += [(str(value), "not found") for value in ids if value not in found]
    db.session.flush()
    return result


def process_payout(actor: User | None, payout_id: object) -> PayoutRequest:
    """Start paying an approved payout: a Stripe transfer now, or the bank transfer by hand.

    A ``stripe`` payout ends this call completed (the transfer went through) or failed
    (Stripe refused it; the money is back in available). Stripe unreachable: `GatewayError`,
    and the caller must roll back.
    """
    actor_id = _admin_id(actor)
    payout = _locked(payout_id)
    _refuse_in_debt(payout)
    _move(payout, "process", actor_id)
    if payout.payout_method == PayoutMethod.STRIPE:
        _transfer(payout, actor_id)
    db.session.flush()
    return payout


# Stripe unreachable while paying out: said of the payout, not of a card payment.
NO_TRANSFER = (
    "Stripe did not answer, so no transfer was made: the payout is still approved and its "
    "money still reserved. Process it again in a minute."
)


def _transfer(payout: PayoutRequest, actor_id: int | None) -> None:
    provider = get_provider()
    # An earlier attempt may have paid and lost its answer (a timeout; a commit that failed
    # after Stripe paid). Its transfer carries the payout's uuid as group and is found,
    # however late the retry: Stripe keeps idempotency keys for a day only.
    try:
        transfer = provider.find_transfer(str(payout.uuid))
    except ProviderUnavailable:
        raise ProviderUnavailable(NO_TRANSFER) from None
    if transfer is None:
        try:
            transfer = provider.create_transfer(
                amount=payout.amount,
                currency=payout.currency,
                destination=payout.stripe_account_id,
                idempotency_key=str(payout.uuid),
                metadata={"payout_id": str(payout.uuid), "tutor_id": str(payout.tutor_id)},
                transfer_group=str(payout.uuid),
            )
        except ProviderUnavailable:
            raise ProviderUnavailable(NO_TRANSFER) from None
        except ProviderRejected as exc:
            why = f" ({exc.provider_code})" if exc.provider_code else ""
            _fail(payout, f"Stripe refused the transfer{why}: {exc.message}"[:255], actor_id)
            return
    _complete(payout, actor_id, provider_transfer_id=transfer.id)


def complete_payout(
    actor: User | None, payout_id: object, *, reference: object = None
) -> PayoutRequest:
    """The money arrived: processing → completed, with the bank's reference if given."""
    actor_id = _admin_id(actor)
    reference = _reference(reference)
    payout = _locked(payout_id)
    _refuse_in_debt(payout)
    _complete(payout, actor_id, bank_reference=reference)
    db.session.flush()
    return payout


def _complete(payout: PayoutRequest, actor_id: int | None, **changes) -> None:
    _move(payout, "complete", actor_id, **changes)
    complete_payout_funds(
        tutor_id=payout.tutor_id, amount=payout.amount,
        idempotency_key=money_key(payout, "completed"), payout_id=payout.id, actor_id=actor_id,
        memo=f"Payout {str(payout.uuid)[:8]} sent",
    )  # fmt: skip


def fail_payout(actor: User | None, payout_id: object, *, reason: object) -> PayoutRequest:
    """Reject or fail a payout with a reason the tutor will read; the money goes back."""
    actor_id = _admin_id(actor)
    reason = _reason(reason)
    payout = _locked(payout_id)
    _refuse_if_sent(payout)
    _fail(payout, reason, actor_id)
    db.session.flush()
    return payout


def _refuse_if_sent(payout: PayoutRequest) -> None:
    """A Stripe payout somebody tried to send may have been paid even if nobody heard back:
    ask Stripe before giving the money back (Stripe unreachable: `GatewayError`)."""
    if payout.payout_method != PayoutMethod.STRIPE or payout.status not in (
        PayoutStatus.APPROVED,
        PayoutStatus.PROCESSING,
    ):
        return
    transfer = get_provider().find_transfer(str(payout.uuid))
    if transfer is not None:
        raise InvalidTransition(
            f"Stripe has already sent this payout ({transfer.id}); send it via Stripe again "
            "to record that, instead of failing it."
        )


def _fail(payout: PayoutRequest, reason: str, actor_id: int | None) -> None:
    _move(payout, "fail", actor_id, failure_reason=reason)
    _return_money(payout, "failed", actor_id)


def _reason(value: object) -> str:
    text = " ".join(value.split()) if isinstance(value, str) else ""
    if not text:
        raise ValidationError("Give a reason the tutor will read.",
                              fields={"reason": ["Give a reason."]})  # fmt: skip
    if len(text) > 255:
        raise ValidationError("Keep the reason under 255 characters.",
                              fields={"reason": ["At most 255 characters."]})  # fmt: skip
    return text


def _reference(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("reference must be text.", fields={"reference": ["Must be text."]})
    text = value.strip()
    if len(text) > 120:
        raise ValidationError("Keep the reference under 120 characters.",
                              fields={"reference": ["At most 120 characters."]})  # fmt: skip
    return text or None


def approved_stripe_payouts() -> list[uuid.UUID]:
    """What `process_pending_payouts` works through, oldest first."""
    return list(
        db.session.scalars(
            sa.select(PayoutRequest.uuid)
            .where(
                PayoutRequest.status == S.APPROVED,
                PayoutRequest.payout_method == PayoutMethod.STRIPE,
            )
            .order_by(PayoutRequest.created_at, PayoutRequest.id)
        )
    )


# --- reading --------------------------------------------------------------------------


def payouts_of(tutor_id: int) -> sa.Select:
    """A tutor's payouts, newest first."""
    return (
        sa.select(PayoutRequest)
        .where(PayoutRequest.tutor_id == tutor_id)
        .order_by(PayoutRequest.id.desc())
    )


def get_payout_for(user: User, payout_id: object) -> PayoutRequest:
    """A payout `user` may see: a tutor their own, an admin any; anything else is a 404."""
    query = sa.select(PayoutRequest).where(PayoutRequest.uuid == _uuid(payout_id))
    if user.role == Role.TUTOR:
        query = query.where(PayoutRequest.tutor_id == user.id)
    elif user.role != Role.ADMIN:
        raise NotFound("No such payout.")
    payout = db.session.scalar(query)
    if payout is None:
        raise NotFound("No such payout.")
    return payout
