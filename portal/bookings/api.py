from flask import current_app, jsonify
from flask_login import current_user

from portal.accounts.decorators import login_required, roles_required, student_required
from portal.api import api_blueprint, iso, json_body, paginate
from portal.bookings import services
from portal.bookings.models import Booking
from portal.db import unit_of_work

bp = api_blueprint("bookings_api", __name__, "/bookings")


def booking_json(booking: Booking, payment_id: str | None = None) -> dict:
    return {
        "id": booking.id,
        "tutor_id": booking.tutor_id,
        "student_id": booking.student_id,
        "starts_at": iso(booking.starts_at),
        "duration_minutes": booking.duration_minutes,
        "price": booking.price,
        "currency": booking.currency,
        "status": booking.status,
        "payment_id": payment_id,
        "subscription_id": booking.subscription_id,
    }


def bookings_json(bookings: list[Booking]) -> list[dict]:
    payment_ids = services.payment_ids_for(bookings)
    return [booking_json(b, payment_ids.get(b.id)) for b in bookings]


def one_booking_json(booking: Booking) -> dict:
    return booking_json(booking, services.payment_id_for(booking))


@bp.post("/")
@student_required
def create():
    data = json_body({"tutor_id", "starts_at", "duration_minutes", "use_subscription"})
    with unit_of_work():
        booking = services.create_booking(
            current_user,
            data.get("tutor_id"),
            data.get("starts_at"),
            data.get("duration_minutes"),
            currency=current_app.config["PLATFORM_CURRENCY"],
            use_subscription=data.get("use_subscription", False),
        )
    return jsonify(one_booking_json(booking)), 201


@bp.get("/")
@login_required
def index():
    return jsonify(paginate(services.visible_bookings(current_user), serialize_page=bookings_json))


@bp.get("/<int:booking_id>/")
@login_required
def detail(booking_id: int):
    return jsonify(one_booking_json(services.get_booking_for(current_user, booking_id)))


@bp.post("/<int:booking_id>/complete/")
@roles_required("tutor", "admin")
def complete(booking_id: int):
    with unit_of_work():
        booking = services.complete_booking(current_user, booking_id)
    return jsonify(one_booking_json(booking))


@bp.post("/<int:booking_id>/cancel/")
@login_required
def cancel(booking_id: int):
    with unit_of_work():
        booking = services.cancel_booking(current_user, booking_id)
    return jsonify(one_booking_json(booking))
