"""The bookings JSON API: booking, listing, completing and cancelling lessons."""

from __future__ import annotations

from flask import current_app
from flask_login import current_user

from portal.accounts.decorators import login_required, roles_required, student_required
from portal.api import api_blueprint, paginate
from portal.bookings import services
from portal.bookings.models import Booking
from portal.bookings.schemas import BookingAnswer, BookingRequest
from portal.contract.schemas import Page, PageQuery
from portal.contract.spec import operation
from portal.db import unit_of_work

bp = api_blueprint("bookings_api", __name__, "/bookings")


def bookings_answer(bookings: list[Booking]) -> list[BookingAnswer]:
    payment_ids = services.payment_ids_for(bookings)
    return [BookingAnswer.of(b, payment_ids.get(b.id)) for b in bookings]


def booking_answer(booking: Booking) -> BookingAnswer:
    return BookingAnswer.of(booking, services.payment_id_for(booking))


@bp.post("/")
@student_required
@operation(
    {201: BookingAnswer},
    errors=(409,),
    rules="the lesson starts in the future and at most a year ahead, with a tutor who "
    "exists and is not the caller (400 `invalid`, naming the field).",
)
def create(json: BookingRequest):
    """Book a lesson

    The price comes from the tutor's hourly rate. The lesson waits for payment
    (`pending_payment`) and holds its slot for a while, or is `scheduled` at once when a
    subscription covers it. A slot that overlaps the tutor's or the student's other
    lessons is 409 `slot_taken`.
    """
    with unit_of_work():
        booking = services.create_booking(
            current_user,
            json.tutor_id,
            json.starts_at,
            json.duration_minutes,
            currency=current_app.config["PLATFORM_CURRENCY"],
            use_subscription=json.use_subscription,
        )
    return booking_answer(booking), 201


@bp.get("/")
@login_required
@operation({200: Page[BookingAnswer]})
def index(query: PageQuery):
    """List lessons

    A student's or a tutor's own, every lesson for an admin; the latest start first.
    """
    select = services.visible_bookings(current_user)
    return paginate(select, serialize_page=bookings_answer, page=query)


@bp.get("/<int:booking_id>/")
@login_required
@operation({200: BookingAnswer})
def detail(booking_id: int):
    """One lesson"""
    return booking_answer(services.get_booking_for(current_user, booking_id))


@bp.post("/<int:booking_id>/complete/")
@roles_required("tutor", "admin")
@operation({200: BookingAnswer}, errors=(409,))
def complete(booking_id: int):
    """Mark a lesson completed

    Its tutor once it has started, an admin at any time; the tutor's earning starts its
    hold.
    """
    with unit_of_work():
        booking = services.complete_booking(current_user, booking_id)
    return booking_answer(booking)


@bp.post("/<int:booking_id>/cancel/")
@login_required
@operation({200: BookingAnswer}, errors=(409,))
def cancel(booking_id: int):
    """Cancel a lesson

    Before it starts (an admin at any time); a payment in progress is abandoned, and a
    covered lesson goes back to its subscription period.
    """
    with unit_of_work():
        booking = services.cancel_booking(current_user, booking_id)
    return booking_answer(booking)
