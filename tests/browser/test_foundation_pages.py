"""Every foundation page as its user sees it, in Chromium."""

from datetime import timedelta

import pytest

from portal.bookings.models import Booking, BookingStatus
from portal.db import utcnow
from portal.extensions import db
from tests import factories
from tests.conftest import screenshot

pytestmark = pytest.mark.browser


def test_student_books_a_lesson_and_the_tutor_sees_it(page, sign_in, student, tutor):
    sign_in(page, student)
    assert page.url.endswith("/lessons")
    screenshot(page, "student-lessons-empty")
    page.get_by_role("link", name="Find a tutor").first.click()
    page.wait_for_url("**/tutors")
    page.get_by_role("link", name="Book a lesson").click()
    page.wait_for_url("**/book")
    page.get_by_label("Date").fill((utcnow() + timedelta(days=30)).date().isoformat())
    page.get_by_label("Start time (UTC)").fill("15:00")
    page.get_by_label("Length").select_option("90")
    screenshot(page, "student-book")
    page.get_by_role("button", name="Book lesson").click()
    page.get_by_text("booked").wait_for()
    screenshot(page, "student-lessons")
    assert page.get_by_role("cell", name="$67.50", exact=True).is_visible()
    assert db.session.query(Booking).one().status == BookingStatus.PENDING_PAYMENT

    tutor_page = page.context.browser.new_context(base_url=page.url.split("/lessons")[0]).new_page()
    sign_in(tutor_page, tutor)
    assert tutor_page.get_by_text(student.name).is_visible()
    screenshot(tutor_page, "tutor-lessons")


def test_booking_form_shows_errors(page, sign_in, student, tutor):
    sign_in(page, student)
    page.goto(f"/tutors/{tutor.id}/book")
    page.get_by_label("Date").fill("2001-01-15")
    page.get_by_label("Start time (UTC)").fill("15:00")
    page.get_by_role("button", name="Book lesson").click()
    page.get_by_text("Choose a time in the future.").wait_for()
    screenshot(page, "student-book-error")
    assert db.session.query(Booking).count() == 0


def test_tutor_completes_a_started_lesson_in_place(page, sign_in, tutor):
    booking = factories.BookingFactory(
        tutor=tutor, status=BookingStatus.SCHEDULED, starts_at=utcnow() - timedelta(minutes=30)
    )
    sign_in(page, tutor)
    page.get_by_role("button", name="Mark completed").click()
    page.locator(f"#booking-{booking.id}").get_by_text("completed").wait_for()
    screenshot(page, "tutor-completed")
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == BookingStatus.COMPLETED


def test_admin_pages_and_sign_up_page(page, sign_in, admin, tutor):
    factories.BookingFactory(tutor=tutor)
    page.goto("/signup")
    screenshot(page, "signup")
    sign_in(page, admin)
    screenshot(page, "admin-overview")
    page.get_by_role("link", name="Lessons").first.click()
    screenshot(page, "admin-lessons")
    page.goto("/account")
    page.get_by_role("button", name="Create a new token").click()
    page.get_by_text("Copy your token now").wait_for()
    screenshot(page, "account-token")


def test_errors_are_pages(page, sign_in, student):
    sign_in(page, student)
    page.goto("/admin/")
    assert page.get_by_role("heading", name="Not allowed").is_visible()
    page.goto("/nope")
    assert page.get_by_role("heading", name="Not found").is_visible()
    screenshot(page, "error-404")
