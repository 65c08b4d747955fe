"""The account pages in Chromium, on a laptop (1280 px) and a phone (390 px): sign-up's
rate and zone, the profile, the password, the e-mail preferences and a reset by e-mail."""

import re
from datetime import UTC, datetime

import pytest

from portal.accounts.models import User
from portal.bookings.models import BookingStatus
from portal.extensions import db
from tests import factories
from tests.conftest import screenshot

pytestmark = pytest.mark.browser

WIDTHS = {"laptop": 1280, "phone": 390}


@pytest.fixture(params=list(WIDTHS))
def device(request):
    return request.param


@pytest.fixture
def open_page(chromium, live_server, device):
    """`open_page(zone)` → a page in a fresh browser whose clock is in `zone`."""
    contexts = []

    def _open(zone: str = "UTC"):
        context = chromium.new_context(
            base_url=live_server.url,
            viewport={"width": WIDTHS[device], "height": 900},
            timezone_id=zone,
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield _open
    for context in contexts:
        context.close()


def _no_sideways_scroll(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


def test_sign_up_guesses_the_zone_and_asks_tutors_for_a_rate(open_page, device):
    page = open_page("Europe/Berlin")
    page.goto("/signup")
    assert page.get_by_label("Time zone").input_value() == "Europe/Berlin"
    assert not page.get_by_label("Hourly rate (tutors)").is_visible()
    page.get_by_label("Your name").fill("Tia")
    page.get_by_label("Email").fill(f"tia-{device}@example.com")
    page.get_by_label("Password").fill("long-enough-pw")
    page.get_by_role("radio", name=re.compile("Tutor")).check()
    assert page.get_by_label("Hourly rate (tutors)").is_visible()
    page.get_by_role("button", name="Create account").click()
    page.get_by_text("Tutors set an hourly rate").wait_for()
    _no_sideways_scroll(page)
    screenshot(page, f"account-signup-rate-required-{device}")
    # The zone chosen is kept when the form comes back with an error.
    assert page.get_by_label("Time zone").input_value() == "Europe/Berlin"
    page.get_by_label("Password").fill("long-enough-pw")
    page.get_by_label("Hourly rate (tutors)").fill("52.50")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/lessons$"))
    user = db.session.query(User).filter_by(email=f"tia-{device}@example.com").one()
    assert (user.time_zone, user.hourly_rate) == ("Europe/Berlin", 5250)


def test_a_tutor_edits_the_profile_and_sees_lessons_in_the_new_zone(
    open_page, sign_in, tutor, device
):
    factories.BookingFactory(
        tutor=tutor,
        status=BookingStatus.SCHEDULED,
        starts_at=datetime(datetime.now(UTC).year + 1, 1, 15, 15, 0, tzinfo=UTC),
    )
    page = open_page("America/New_York")
    sign_in(page, tutor)
    page.goto("/account/profile")
    assert page.get_by_label("Hourly rate").input_value() == "45.00"
    page.get_by_label("Your name").fill("Tia Tutor")
    page.get_by_label("Hourly rate").fill("60")
    page.get_by_role("button", name=re.compile("Use this browser's zone")).click()
    assert page.get_by_label("Time zone").input_value() == "America/New_York"
    screenshot(page, f"account-profile-{device}")
    page.get_by_role("button", name="Save profile").click()
    page.get_by_text("Your profile is saved.").wait_for()
    _no_sideways_scroll(page)
    screenshot(page, f"account-profile-saved-{device}")
    db.session.refresh(tutor)
    assert (tutor.name, tutor.hourly_rate, tutor.time_zone) == (
        "Tia Tutor",
        6000,
        "America/New_York",
    )
    page.goto("/lessons")
    page.get_by_text(re.compile(r"10:00 EST")).first.wait_for()
    screenshot(page, f"account-lessons-in-zone-{device}")


def test_a_student_changes_the_password(open_page, sign_in, student, device):
    page = open_page()
    sign_in(page, student)
    page.goto("/account/password")
    page.get_by_label("Current password").fill("not-my-password")
    page.get_by_label("New password").fill("plum-lantern-orbit-4")
    page.get_by_role("button", name="Change password").click()
    page.get_by_text("That is not your current password.").wait_for()
    screenshot(page, f"account-password-error-{device}")
    page.get_by_label("Current password").fill(factories.PASSWORD)
    page.get_by_label("New password").fill("plum-lantern-orbit-4")
    page.get_by_role("button", name="Change password").click()
    page.get_by_text("Your password is changed").wait_for()
    _no_sideways_scroll(page)
    screenshot(page, f"account-password-changed-{device}")


def test_e_mail_preferences(open_page, sign_in, student, device):
    page = open_page()
    sign_in(page, student)
    page.goto("/account/notifications")
    news = page.get_by_label("News and tips from M4SH")
    assert not news.is_checked() and page.get_by_label("New sign-in alerts").is_checked()
    news.check()
    page.get_by_role("button", name="Save preferences").click()
    page.get_by_text("Your e-mail preferences are saved.").wait_for()
    assert page.get_by_label("News and tips from M4SH").is_checked()
    assert page.get_by_text("Payment receipts and invoices").is_visible()
    _no_sideways_scroll(page)
    screenshot(page, f"account-notifications-{device}")


def test_a_forgotten_password_is_reset_through_the_mailed_link(open_page, inbox, student, device):
    page = open_page()
    page.goto("/signin")
    page.get_by_role("link", name="Forgot your password?").click()
    # A boosted link: the sign-in form (with its own Email field) stays until the swap.
    page.get_by_role("heading", name="Reset your password").wait_for()
    page.get_by_label("Email").fill(student.email)
    page.get_by_role("button", name="Send me a link").click()
    page.get_by_role("heading", name="Check your e-mail").wait_for()
    screenshot(page, f"account-forgot-sent-{device}")
    body = inbox[-1].get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"http://\S+(/password/reset/\S+)", body).group(1)
    page.goto(link)
    page.get_by_label("New password").fill("quiet-harbour-lamp-7")
    screenshot(page, f"account-reset-{device}")
    page.get_by_role("button", name="Set new password").click()
    page.get_by_text("Your password is changed. Sign in with it now.").wait_for()
    page.goto(link)
    page.get_by_text("This link does not work any more.").wait_for()
    _no_sideways_scroll(page)
    screenshot(page, f"account-reset-used-{device}")


def test_lessons_across_the_end_of_summer_time(open_page, sign_in, student, tutor, device):
    """Europe/Berlin, night of 25 October 2026: 02:30 CEST, then 02:30 CET an hour later."""
    student.time_zone = "Europe/Berlin"
    db.session.commit()
    for hour in (0, 1):
        factories.BookingFactory(
            student=student,
            tutor=tutor,
            status=BookingStatus.COMPLETED,
            starts_at=datetime(2026, 10, 25, hour, 30, tzinfo=UTC),
        )
    page = open_page("Europe/Berlin")
    sign_in(page, student)
    page.goto("/lessons?show=all")
    page.get_by_text("Sun 25 Oct 2026, 02:30 CEST").wait_for()
    page.get_by_text("Sun 25 Oct 2026, 02:30 CET", exact=True).wait_for()
    _no_sideways_scroll(page)
    screenshot(page, f"account-lessons-across-dst-{device}")
