"""Bookings: price from the tutor's rate, no overlaps, and the lesson lifecycle.

`pending_payment → scheduled → completed`, or `→ cancelled`. A lesson covered by a
subscription's quota is `scheduled` at once, without a payment; its cover (see
`portal.bookings.covers`) takes the lesson from the quota, gives it back when the lesson
is cancelled, and pays the tutor's share when it is completed. Services flush; the view
or task that owns the unit of work commits.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app

from portal.accounts.models import Role, User
from portal.bookings.covers import lesson_cover
from portal.bookings.models import ACTIVE_STATUSES, Booking, BookingStatus
from portal.db import parse_id, utcnow
from portal.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationError
from portal.extensions import db
from portal.money import round_half_up
from portal.payments.models import Payment
from portal.payments.outcome import settle_payments_before_cancel

ALLOWED_DURATIONS = (30, 45, 60, 90, 120)
MAX_DAYS_AHEAD = 365


def lesson_price(hourly_rate: int, duration_minutes: int) -> int:
    return round_half_up(Decimal(hourly_rate) * duration_minutes / 60)


def _lock_users(*user_ids: int) -> dict[int, User]:
    # Bookings are serialized on the tutor's and the student's rows, so two requests for
    # the same slot (or one student's two lessons at one time with different tutors)
    # cannot both pass the overlap checks. SELECT … ORDER BY id FOR UPDATE takes the locks
    # in id order, so two bookings locking the same pair never deadlock.
    users = db.session.scalars(
        sa.select(User).where(User.id.in_(user_ids)).order_by(User.id).with_for_update()
    )
    return {user.id: user for user in users}


def _overlapping(column, user_id: int, starts_at: datetime, ends_at: datetime) -> bool:
    return db.session.scalar(
        sa.select(
            sa.exists().where(
                column == user_id,
                Booking.status.in_(ACTIVE_STATUSES),
                Booking.starts_at < ends_at,
                Booking.ends_at > starts_at,
            )
        )
    )


def create_booking(
    student: User,
    tutor_id: object,
    starts_at: object,
    duration_minutes: object,
    *,
    currency: str,
    use_subscription: object = False,
) -> Booking:
    """Book a lesson for `student`; the price comes from the tutor's hourly rate.

    With `use_subscription` the lesson is taken from the student's subscription quota and
    is scheduled at once, or refused (409 ``quota_exhausted`` / ``no_active_subscription``).
    """
    if student.role != Role.STUDENT:
        raise Forbidden("Only students can book lessons.")
    if not isinstance(use_subscription, bool):
        raise ValidationError(
            "use_subscription must be true or false.",
            fields={"use_subscription": ["Must be true or false."]},
        )
    starts_at = _check_start(starts_at)
    duration = _check_duration(duration_minutes)
    if not isinstance(tutor_id, int) or parse_id(tutor_id) is None:
        raise ValidationError("Choose a tutor.", fields={"tutor_id": ["Must be a tutor's id."]})
    if tutor_id == student.id:
        raise ValidationError("You cannot book yourself.", fields={"tutor_id": ["That is you."]})
    tutor = _lock_users(tutor_id, student.id).get(tutor_id)
    if not use_subscription:  # a covered lesson holds nothing unpaid
        _check_unpaid_holds(student)
    if tutor is None or tutor.role != Role.TUTOR or not tutor.active or not tutor.hourly_rate:
        raise ValidationError("No such tutor.", fields={"tutor_id": ["No such tutor."]})
    ends_at = starts_at + timedelta(minutes=duration)
    if _overlapping(Booking.tutor_id, tutor.id, starts_at, ends_at):
        raise Conflict(
            "The tutor is already booked at that time. Choose another time.",
            code="slot_taken",
            fields={"starts_at": ["The tutor is busy then."]},
        )
    if _overlapping(Booking.student_id, student.id, starts_at, ends_at):
        raise Conflict(
            "You already have a lesson at that time.",
            code="slot_taken",
            fields={"starts_at": ["You have another lesson then."]},
        )
    booking = Booking(
        tutor_id=tutor.id,
        student_id=student.id,
        starts_at=starts_at,
        ends_at=ends_at,
        duration_minutes=duration,
        currency=currency,
        price=lesson_price(tutor.hourly_rate, duration),
        status=BookingStatus.SCHEDULED if use_subscription else BookingStatus.PENDING_PAYMENT,
    )
    if use_subscription:
        lesson_cover().take(booking)
    db.session.add(booking)
    db.session.flush()
    return booking


def _check_start(value: object) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                "starts_at must be an ISO 8601 date and time.",
                fields={"starts_at": ["Use ISO 8601, e.g. 2030-01-31T15:00:00Z."]},
            ) from None
    if not isinstance(value, datetime):
        raise ValidationError(
            "starts_at is required.", fields={"starts_at": ["This field is required."]}
        )
    if value.tzinfo is None:
        raise ValidationError(
            "starts_at needs a time zone.",
            fields={"starts_at": ["Add a time zone, e.g. Z or +02:00."]},
        )
    now = utcnow()
    if value <= now:
        raise ValidationError(
            "A lesson must start in the future.",
            fields={"starts_at": ["Choose a time in the future."]},
        )
    if value > now + timedelta(days=MAX_DAYS_AHEAD):
        raise ValidationError(
            "Lessons can be booked at most a year ahead.",
            fields={"starts_at": ["At most a year ahead."]},
        )
    return value.replace(second=0, microsecond=0)


def _check_duration(value: object) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value not in ALLOWED_DURATIONS:
        allowed = ", ".join(map(str, ALLOWED_DURATIONS))
        raise ValidationError(
            f"Duration must be one of {allowed} minutes.",
            fields={"duration_minutes": [f"Choose {allowed} minutes."]},
        )
    return value


def visible_bookings(user: User) -> sa.Select:
    """The bookings `user` may see, newest lesson first."""
    query = sa.select(Booking).order_by(Booking.starts_at.desc(), Booking.id.desc())
    if user.role == Role.STUDENT:
        return query.where(Booking.student_id == user.id)
    if user.role == Role.TUTOR:
        return query.where(Booking.tutor_id == user.id)
    return query


def get_booking_for(user: User, booking_id: int, *, lock: bool = False) -> Booking:
    """The booking if `user` may see it; somebody else's booking is a 404, like a missing one."""
    query = sa.select(Booking).where(Booking.id == booking_id)
    if user.role == Role.STUDENT:
        query = query.where(Booking.student_id == user.id)
    elif user.role == Role.TUTOR:
        query = query.where(Booking.tutor_id == user.id)
    if lock:
        query = query.with_for_update(of=Booking)
    booking = db.session.scalar(query)
    if booking is None:
        raise NotFound("No such booking.")
    return booking


def complete_booking(actor: User, booking_id: int) -> Booking:
    """Mark a lesson completed: its tutor once it has started, an admin at any time."""
    booking = get_booking_for(actor, booking_id, lock=True)
    if actor.role == Role.STUDENT:
        raise Forbidden("Only the tutor or an admin can complete a lesson.")
    if booking.status != BookingStatus.SCHEDULED:
        raise InvalidTransition(f"A {booking.status.replace('_', ' ')} lesson cannot be completed.")
    if actor.role == Role.TUTOR and not booking.has_started:
        raise InvalidTransition("A lesson can be completed once it has started.")
    return _mark_completed(booking)


def _mark_completed(booking: Booking) -> Booking:
    booking.status = BookingStatus.COMPLETED
    booking.completed_at = utcnow()
    db.session.flush()
    if booking.subscription_period_id is not None:
        lesson_cover().completed(booking)
    return booking


# A paid lesson is cancelled by refunding it in full; who may do that, in each role's words.
PAID_LESSON_CANCEL = {
    Role.TUTOR: "This lesson is paid, so only M4SH support can cancel it: ask them to refund "
    "the student, which cancels the lesson.",
    Role.ADMIN: "This lesson is paid: refund its payment in full from Payments, which cancels "
    "the lesson.",
}


def cancel_booking(actor: User, booking_id: int) -> Booking:
    """Cancel a lesson that has not happened; refused while it is paid (a refund cancels it).

    A payment still in progress is abandoned at the provider first; a covered lesson goes
    back to the subscription period it was taken from.
    """
    booking = get_booking_for(actor, booking_id, lock=True)
    if booking.status not in (BookingStatus.PENDING_PAYMENT, BookingStatus.SCHEDULED):
        raise InvalidTransition(f"A {booking.status.replace('_', ' ')} lesson cannot be cancelled.")
    if actor.role != Role.ADMIN and booking.has_started:
        raise InvalidTransition("A lesson that has started cannot be cancelled.")
    try:
        settle_payments_before_cancel(booking)
    except Conflict as exc:
        if exc.code != "lesson_paid" or actor.role == Role.STUDENT:
            raise
        raise Conflict(PAID_LESSON_CANCEL[actor.role], code="lesson_paid") from None
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_at = utcnow()
    db.session.flush()
    if booking.subscription_period_id is not None:
        lesson_cover().give_back(booking)
    return booking


def _check_unpaid_holds(student: User) -> None:
    limit = current_app.config["MAX_UNPAID_BOOKINGS"]
    unpaid = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Booking)
        .where(Booking.student_id == student.id, Booking.status == BookingStatus.PENDING_PAYMENT)
    )
    if unpaid >= limit:
        raise Conflict(
            f"You have {unpaid} lessons waiting for payment. Pay for or cancel one first.",
            code="too_many_unpaid",
        )


def hold_expires_at(booking: Booking) -> datetime:
    """Until when an unpaid lesson keeps the tutor's time."""
    return booking.created_at + timedelta(minutes=current_app.config["BOOKING_HOLD_MINUTES"])


def unpaid_past_hold(now: datetime) -> list[int]:
    cutoff = now - timedelta(minutes=current_app.config["BOOKING_HOLD_MINUTES"])
    return list(
        db.session.scalars(
            sa.select(Booking.id)
            .where(Booking.status == BookingStatus.PENDING_PAYMENT, Booking.created_at < cutoff)
            .order_by(Booking.id)
            .limit(EXPIRY_BATCH)
        )
    )


EXPIRY_BATCH = 500


def expire_unpaid_booking(booking_id: int) -> bool:
    """Cancel an unpaid lesson whose hold has passed; False if it is no longer unpaid.

    Cancelling abandons a payment still in progress at the provider; one that went
    through meanwhile refuses the cancel (Conflict), and the lesson is left to be settled.
    """
    booking = db.session.scalar(
        sa.select(Booking)
        .where(Booking.id == booking_id, Booking.status == BookingStatus.PENDING_PAYMENT)
        .with_for_update(of=Booking)
    )
    if booking is None:
        return False
    settle_payments_before_cancel(booking)
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_at = utcnow()
    db.session.flush()
    return True


def complete_ended_lessons(now: datetime | None = None) -> int:
    """Complete every scheduled lesson that has ended; returns how many."""
    now = now or utcnow()
    ids = db.session.scalars(
        sa.select(Booking.id).where(
            Booking.status == BookingStatus.SCHEDULED, Booking.ends_at <= now
        )
    ).all()
    done = 0
    for booking_id in ids:
        booking = db.session.scalar(
            sa.select(Booking)
            .where(Booking.id == booking_id, Booking.status == BookingStatus.SCHEDULED)
            .with_for_update(of=Booking)
        )
        if booking is not None:
            _mark_completed(booking)
            done += 1
    return done


def payment_ids_for(bookings: list[Booking]) -> dict[int, uuid.UUID]:
    """The uuid of each booking's latest payment attempt, in one query; bookings without one
    are left out."""
    rows = db.session.execute(
        sa.select(Payment.booking_id, Payment.uuid)
        .where(Payment.booking_id.in_([b.id for b in bookings]))
        .order_by(Payment.id)
    )
    return {booking_id: payment_uuid for booking_id, payment_uuid in rows}


def payment_id_for(booking: Booking) -> uuid.UUID | None:
    """The uuid of the booking's latest payment attempt, if any."""
    return payment_ids_for([booking]).get(booking.id)
