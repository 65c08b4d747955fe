"""An admin's steps on a payout: approve (one or many), process, complete, fail.

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
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from portal.accounts.models import User
from portal.db import is_postgres
from portal.errors import Conflict, InvalidTransition, ValidationError
from portal.extensions import db
from portal.payouts.models import PayoutMethod, PayoutRequest, PayoutStatus
from portal.payouts.transitions import (
    TRANSITIONS,
    admin_id,
    lock_payout,
    lock_query,
    money_key,
    move,
    parse_payout_id,
    return_money,
)
from portal.providers import get_provider
from portal.providers.base import ProviderRejected, ProviderUnavailable
from portal.wallets.models import TutorWallet
from portal.wallets.movement import lock_wallet
from portal.wallets.payout_funds import complete_payout_funds

MAX_BULK = 1000


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
    actor_id = admin_id(actor)
    payout = lock_payout(payout_id)
    _refuse_in_debt(payout)
    move(payout, "approve", actor_id)
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
    actor_id = admin_id(actor)
    ids = list(dict.fromkeys(parse_payout_id(value) for value in payout_ids))
    if not ids:
        raise ValidationError("Select at least one payout.", fields={"ids": ["Select some."]})
    if len(ids) > MAX_BULK:
        raise ValidationError(f"Approve at most {MAX_BULK} payouts at once.",
                              fields={"ids": [f"At most {MAX_BULK}."]})  # fmt: skip
    where = PayoutRequest.uuid.in_(ids)
    query = sa.select(PayoutRequest).where(where).order_by(PayoutRequest.id)
    rows = db.session.scalars(
        lock_query(query, where).execution_options(populate_existing=True)
    ).all()
    result = BulkResult()
    approvable = TRANSITIONS["approve"].sources
    in_debt = _tutors_in_debt({p.tutor_id for p in rows if p.status in approvable})
    for payout in rows:
        if payout.status in approvable and payout.tutor_id in in_debt:
            result.skipped.append((str(payout.uuid), "tutor in debt"))
        elif payout.status in TRANSITIONS["approve"].sources:
            move(payout, "approve", actor_id)
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
    actor_id = admin_id(actor)
    payout = lock_payout(payout_id)
    _refuse_in_debt(payout)
    move(payout, "process", actor_id)
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
    actor_id = admin_id(actor)
    reference = _reference(reference)
    payout = lock_payout(payout_id)
    _refuse_in_debt(payout)
    _complete(payout, actor_id, bank_reference=reference)
    db.session.flush()
    return payout


def _complete(payout: PayoutRequest, actor_id: int | None, **changes) -> None:
    move(payout, "complete", actor_id, **changes)
    complete_payout_funds(
        tutor_id=payout.tutor_id, amount=payout.amount,
        idempotency_key=money_key(payout, "completed"), payout_id=payout.id, actor_id=actor_id,
        memo=f"Payout {str(payout.uuid)[:8]} sent",
    )  # fmt: skip


def fail_payout(actor: User | None, payout_id: object, *, reason: object) -> PayoutRequest:
    """Reject or fail a payout with a reason the tutor will read; the money goes back."""
    actor_id = admin_id(actor)
    reason = _reason(reason)
    payout = lock_payout(payout_id)
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
    move(payout, "fail", actor_id, failure_reason=reason)
    return_money(payout, "failed", actor_id)


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
                PayoutRequest.status == PayoutStatus.APPROVED,
                PayoutRequest.payout_method == PayoutMethod.STRIPE,
            )
            .order_by(PayoutRequest.created_at, PayoutRequest.id)
        )
    )
