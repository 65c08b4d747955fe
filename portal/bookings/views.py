from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user

from portal.accounts.decorators import login_required, roles_required, student_required
from portal.accounts.models import Role, User
from portal.accounts.services import list_tutors
from portal.bookings import services
from portal.bookings.covers import covered_lessons_left
from portal.bookings.forms import BookingForm
from portal.bookings.models import Booking, BookingStatus
from portal.db import unit_of_work
from portal.errors import NotFound, PortalError
from portal.extensions import db
from portal.forms import apply_field_errors
from portal.input import choice_filter
from portal.pagination import Page
from portal.payments.lookups import paid_payments_by_lesson
from portal.rendering import render_page
from portal.urls import local_path_or

bp = Blueprint("bookings", __name__)


@bp.get("/tutors")
@login_required
def tutors():
    return render_page("bookings/tutors.html", {"tutors": list_tutors()})


@bp.route("/tutors/<int:tutor_id>/book", methods=["GET", "POST"])
@student_required
def book(tutor_id: int):
    tutor = db.session.get(User, tutor_id)
    if tutor is None or tutor.role != Role.TUTOR or not tutor.active:
        raise NotFound("No such tutor.")
    form = BookingForm()
    covered_left = covered_lessons_left(current_user)
    if covered_left is not None:
        form.use_subscription.label.text = (
            f"Use my subscription ({covered_left} lesson{'s' if covered_left != 1 else ''} left)"
        )
    if form.validate_on_submit():
        starts_at = datetime.combine(form.date.data, form.time.data, tzinfo=UTC)
        covered = bool(form.use_subscription.data)
        try:
            with unit_of_work():
                services.create_booking(
                    current_user,
                    tutor.id,
                    starts_at,
                    int(form.duration_minutes.data),
                    currency=current_app.config["PLATFORM_CURRENCY"],
                    use_subscription=covered,
                )
        except PortalError as exc:
            fields = dict(exc.fields or {})
            if "starts_at" in fields:
                fields["time"] = fields.pop("starts_at")
            apply_field_errors(form, fields, exc.message)
        else:
            if covered:
                flash(f"Lesson with {tutor.name} booked from your subscription.", "success")
            else:
                flash(
                    f"Lesson with {tutor.name} booked. Pay for it to confirm your place.",
                    "success",
                )
            return redirect(url_for("bookings.my_lessons"))
    prices = {m: services.lesson_price(tutor.hourly_rate, m) for m in services.ALLOWED_DURATIONS}
    status = 422 if form.errors or form.form_errors else 200
    return render_page(
        "bookings/book.html",
        {"form": form, "tutor": tutor, "prices": prices, "covered_left": covered_left},
        http_status=status,
    )


LESSON_FILTERS = {
    # What comes next first: the soonest upcoming lesson at the top.
    "upcoming": lambda q: (
        q.where(Booking.status.in_([BookingStatus.PENDING_PAYMENT, BookingStatus.SCHEDULED]))
        .order_by(None)
        .order_by(Booking.starts_at.asc(), Booking.id.asc())
    ),
    "completed": lambda q: q.where(Booking.status == BookingStatus.COMPLETED),
    "cancelled": lambda q: q.where(Booking.status == BookingStatus.CANCELLED),
    "all": lambda q: q,
}


@bp.get("/lessons")
@roles_required("student", "tutor")
def my_lessons():
    show = choice_filter(request.args, "show", LESSON_FILTERS, default="upcoming")
    query = LESSON_FILTERS[show](services.visible_bookings(current_user))
    page = Page.of(query, request.args.get("page"), per_page=20)
    return render_page(
        "bookings/lessons.html",
        {"page": page, "show": show, "paid": _paid(page.items)},
        fragments={"lessons": "lessons"},
    )


def _paid(bookings) -> dict:
    """Each paid lesson's payment: what a role may do with a paid lesson differs."""
    return paid_payments_by_lesson(b.id for b in bookings)


def _row_response(booking: Booking):
    return render_page(
        "bookings/lessons.html",
        {"page": Page.single(booking), "show": "all", "booking": booking, "paid": _paid([booking])},
        fragments={f"booking-{booking.id}": "row"},
    )


@bp.post("/lessons/<int:booking_id>/complete")
@roles_required("tutor", "admin")
def complete(booking_id: int):
    with unit_of_work():
        booking = services.complete_booking(current_user, booking_id)
    flash("Lesson marked as completed.", "success")
    return _after_action(booking)


@bp.post("/lessons/<int:booking_id>/cancel")
@login_required
def cancel(booking_id: int):
    with unit_of_work():
        booking = services.cancel_booking(current_user, booking_id)
    flash("Lesson cancelled.", "info")
    return _after_action(booking)


def _after_action(booking: Booking):
    if request.headers.get("HX-Target") == f"booking-{booking.id}":
        return _row_response(booking)
    return redirect(local_path_or(request.referrer, url_for("bookings.my_lessons")))
