"""The payout state machine: which status may become which, the one function that moves a
payout along it, and finding payouts.

    pending ──approve──▶ approved ──process──▶ processing ──complete──▶ completed
       │                    │                      │
       ├──cancel──▶ cancelled (the tutor)          │
       └──fail──▶ failed ◀──fail── (an admin) ◀────┘ (an admin, or the transfer failed)

`TRANSITIONS` is the only place that says which status may become which. Every
transition locks the payout row first (`lock_payout`), checks the table, and refuses
anything else with `InvalidTransition` (409) before writing (`move`). Money moves only
through the wallet service, idempotent by ``payout:<uuid>:requested|cancelled|failed|
completed`` (`money_key`). Lock order is payout row, then wallet row, everywhere.

The tutor's side (requesting, auto-payouts, cancelling) is `requesting`; the admin's
steps (approve, process with a Stripe transfer, complete, fail) are `processing`.
Functions flush and never commit; the view or task owns the unit of work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from portal.accounts.models import Role, User
from portal.audit.services import record
from portal.db import is_postgres, utcnow
from portal.errors import Forbidden, InvalidTransition, NotFound
from portal.extensions import db
from portal.payouts.models import PayoutRequest, PayoutStatus
from portal.payouts.notifications import notify_after_commit
from portal.wallets.payout_funds import release_payout_reservation

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


def allowed_actions(status: str) -> list[str]:
    """The actions the state machine allows from `status`, in table order."""
    return [name for name, t in TRANSITIONS.items() if status in t.sources]


def money_key(payout: PayoutRequest, event: str) -> str:
    return f"payout:{payout.uuid}:{event}"


def parse_payout_id(value: object) -> uuid.UUID:
    """A payout's uuid; anything else is a 404 (payouts are addressed by uuid only)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound("No such payout.") from None


def lock_query(query: sa.Select, *where) -> sa.Select:
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


def lock_payout(payout_id: object, *, tutor_id: int | None = None) -> PayoutRequest:
    """The payout row, locked for the rest of the transaction; another tutor's is a 404."""
    where = [PayoutRequest.uuid == parse_payout_id(payout_id)]
    if tutor_id is not None:
        where.append(PayoutRequest.tutor_id == tutor_id)
    query = sa.select(PayoutRequest).where(*where)
    payout = db.session.scalar(lock_query(query, *where).execution_options(populate_existing=True))
    if payout is None:
        raise NotFound("No such payout.")
    return payout


def move(payout: PayoutRequest, action: str, actor_id: int | None, **changes) -> None:
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


def admin_id(actor: User | None) -> int | None:
    """None is the portal itself (a task); a person must be an admin."""
    if actor is None:
        return None
    if actor.role != Role.ADMIN:
        raise Forbidden("Only an admin can do this to a payout.")
    return actor.id


def return_money(payout: PayoutRequest, event: str, actor_id: int | None) -> None:
    """In flight → available, when a payout is cancelled or fails."""
    release_payout_reservation(
        tutor_id=payout.tutor_id, amount=payout.amount, idempotency_key=money_key(payout, event),
        payout_id=payout.id, actor_id=actor_id, memo=f"Payout {str(payout.uuid)[:8]} {event}",
    )  # fmt: skip


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
    query = sa.select(PayoutRequest).where(PayoutRequest.uuid == parse_payout_id(payout_id))
    if user.role == Role.TUTOR:
        query = query.where(PayoutRequest.tutor_id == user.id)
    elif user.role != Role.ADMIN:
        raise NotFound("No such payout.")
    payout = db.session.scalar(query)
    if payout is None:
        raise NotFound("No such payout.")
    return payout
