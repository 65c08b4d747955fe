"""Finding and locking payments, the checks every payment path starts with, and what the
provider is told about a payment (its metadata, its idempotency key's namespace).

Locks: a change to a payment locks its lesson's row, then the payment's row, in that
order everywhere (cancelling a lesson locks the lesson first too), so two confirmations,
a confirmation and a webhook, or a refund and a cancellation never interleave. A payment
locked once stays ours until the transaction ends; `install_session_listeners` (called by
the app factory) forgets the locks when it does.

The idempotency keys of payments and refunds are derived from rows that exist before the
provider call, and their uuids from the keys (`KEY_NAMESPACE`): a retry after a rollback
replays the same provider request, with the same metadata, instead of creating a second.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
import sqlalchemy.orm as so

from portal.accounts.models import Role, User
from portal.bookings.models import Booking
from portal.db import parse_id
from portal.errors import Forbidden, NotFound, ValidationError
from portal.extensions import db
from portal.payments.models import COLLECTED_STATUSES, Payment, PaymentStatus

# Payment and refund uuids are derived from their idempotency keys, so a replayed
# request carries the same metadata as the first one (Stripe compares parameters).
KEY_NAMESPACE = uuid.UUID("5f0c7a52-8d1e-4e55-9a57-6f0d0b1c2e3a")
LOCKED_PAYMENTS = "portal_locked_payments"


def get_payment_for(user: User, payment_id: object) -> Payment:
    """The payment if `user` may see it (payer, the lesson's tutor, or an admin), else 404."""
    query = visible_payments(user).where(Payment.uuid == _parse_uuid(payment_id))
    payment = db.session.scalar(query)
    if payment is None:
        raise NotFound("No such payment.")
    return payment


def _parse_uuid(payment_id: object) -> uuid.UUID:
    try:
        return payment_id if isinstance(payment_id, uuid.UUID) else uuid.UUID(str(payment_id))
    except ValueError:
        raise NotFound("No such payment.") from None


def visible_payments(user: User) -> sa.Select:
    """The payments `user` may see, newest first."""
    query = (
        sa.select(Payment)
        .options(so.selectinload(Payment.booking).joinedload(Booking.tutor))
        .order_by(Payment.created_at.desc(), Payment.id.desc())
    )
    if user.role == Role.STUDENT:
        return query.where(Payment.payer_id == user.id)
    if user.role == Role.TUTOR:
        return query.where(Payment.recipient_id == user.id)
    return query


def paid_payments_by_lesson(booking_ids) -> dict[int, Payment]:
    """The payment that paid each of these lessons, by lesson id: one that may still be
    refunded, or one refunded since (the lesson lists say so)."""
    ids = list(booking_ids)
    if not ids:
        return {}
    rows = db.session.scalars(
        sa.select(Payment).where(
            Payment.booking_id.in_(ids), Payment.status.in_(COLLECTED_STATUSES)
        )
    )
    return {payment.booking_id: payment for payment in rows}


def pending_payment_for(booking_id: int) -> Payment | None:
    return db.session.scalar(
        sa.select(Payment).where(
            Payment.booking_id == booking_id, Payment.status == PaymentStatus.PENDING
        )
    )


def lock_payment(payment: Payment) -> Payment:
    """Lock the payment's lesson, then the payment, and reload both from the database.

    Once per transaction: after that the rows are ours until it ends, so a second call
    (the success path after the confirm call locked) costs nothing.
    """
    if payment.id in db.session.info.get(LOCKED_PAYMENTS, ()):
        return payment
    return _lock(_LOCK_BY_ID, {"payment_id": payment.id})


def lock_payment_of_payer(user: User, payment_id: object) -> Payment:
    """`lock_payment` for the payment `user` paid (or is paying), found by uuid; else 404."""
    params = {"payment_uuid": _parse_uuid(payment_id), "payer_id": user.id}
    locked = _lock(_LOCK_OF_PAYER, params)
    if locked is None:
        raise NotFound("No such payment.")
    return locked


def _locking(*where) -> tuple[sa.Select, sa.Select]:
    """Lock the lesson first, then the payment: the order every payment path takes."""
    lesson_id = sa.select(Payment.booking_id).where(*where).scalar_subquery()
    # The lesson's tutor and student come with it (only the lesson's row is locked): a
    # success names them on the invoice and in the ledger, with no query of its own.
    lesson = (
        sa.select(Booking)
        .where(Booking.id == lesson_id)
        .with_for_update(of=Booking)
        .options(so.lazyload("*"), so.joinedload(Booking.tutor), so.joinedload(Booking.student))
        .execution_options(populate_existing=True)
    )
    payment = (
        sa.select(Payment)
        .where(*where)
        .with_for_update(of=Payment)
        .execution_options(populate_existing=True)
    )
    return lesson, payment


# Built once: on the payment path composing a statement costs more than running it.
_LOCK_BY_ID = _locking(Payment.id == sa.bindparam("payment_id"))


_LOCK_OF_PAYER = _locking(
    Payment.uuid == sa.bindparam("payment_uuid"), Payment.payer_id == sa.bindparam("payer_id")
)


def _lock(statements: tuple[sa.Select, sa.Select], params: dict) -> Payment | None:
    lesson_statement, payment_statement = statements
    booking = db.session.scalars(lesson_statement, params).one_or_none()
    payment = db.session.scalars(payment_statement, params).one_or_none()
    if payment is None:
        return None
    # The lesson was just loaded: spare `payment.booking` a second query.
    so.attributes.set_committed_value(payment, "booking", booking)
    db.session.info.setdefault(LOCKED_PAYMENTS, set()).add(payment.id)
    return payment


def _forget_locks(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(LOCKED_PAYMENTS, None)


def install_session_listeners() -> None:
    """Forget a session's payment locks when its transaction ends (once per process)."""
    if not sa.event.contains(so.Session, "after_transaction_end", _forget_locks):
        sa.event.listen(so.Session, "after_transaction_end", _forget_locks)


def lock_lesson_of(student: User, booking_id: object) -> Booking:
    """The student's lesson, locked (a lesson's payments are serialized on its row); else 404."""
    params = {"booking_id": require_id(booking_id, "booking_id"), "student_id": student.id}
    booking = db.session.scalars(_LOCK_LESSON_OF, params).one_or_none()
    if booking is None:
        raise NotFound("No such booking.")
    return booking


_LOCK_LESSON_OF = (
    sa.select(Booking)
    .where(
        Booking.id == sa.bindparam("booking_id"), Booking.student_id == sa.bindparam("student_id")
    )
    .with_for_update(of=Booking)
    .options(so.lazyload("*"))
    .execution_options(populate_existing=True)
)


def provider_metadata(payment: Payment) -> dict[str, str]:
    data = {"payment_uuid": str(payment.uuid), "payment_type": payment.payment_type}
    if payment.booking_id is not None:
        data["booking_id"] = str(payment.booking_id)
    if payment.invoice_id is not None:
        data["invoice_id"] = str(payment.invoice_id)
    return data


def require_student(user: User) -> None:
    if user.role != Role.STUDENT:
        raise Forbidden("Only students pay for lessons.")


def require_id(value: object, name: str) -> int:
    checked = parse_id(value)
    if checked is None:
        raise ValidationError(f"{name} must be an id.", fields={name: ["Must be an id."]})
    return checked
