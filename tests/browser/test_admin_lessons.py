"""The admin's lesson list: status tabs that filter, with counts, the current one marked."""

import pytest

from portal.bookings.models import BookingStatus
from tests import factories
from tests.conftest import look


@pytest.fixture
def lessons():
    for status, n in ((BookingStatus.SCHEDULED, 3), (BookingStatus.CANCELLED, 2),
                      (BookingStatus.PENDING_PAYMENT, 1)):  # fmt: skip
        for _ in range(n):
            factories.BookingFactory(status=status)


def test_tabs_filter_and_count(login, admin, lessons):
    page = login(admin).get("/admin/lessons?status=cancelled")
    assert page.status_code == 200
    html = page.text
    assert html.count('id="booking-') == 2
    assert 'aria-current="page">Cancelled <span class="tab-count">2</span>' in html
    assert 'All <span class="tab-count">6</span>' in html
    assert 'Scheduled <span class="tab-count">3</span>' in html
    assert login(admin).get("/admin/lessons?status=nope").status_code == 400


@pytest.mark.browser
def test_admin_switches_lesson_tabs(page, sign_in, admin, lessons):
    sign_in(page, admin)
    page.get_by_role("link", name="Lessons", exact=True).click()
    tabs = page.get_by_role("navigation", name="Lessons by status")
    tabs.wait_for()
    assert page.locator("tbody tr").count() == 6
    tabs.get_by_role("link", name="Scheduled 3").click()
    page.wait_for_url("**/admin/lessons?status=scheduled")
    assert page.locator("tbody tr").count() == 3
    current = tabs.locator("[aria-current=page]")
    assert current.inner_text().startswith("Scheduled")
    assert current.evaluate("e => getComputedStyle(e).borderBottomColor") != "rgba(0, 0, 0, 0)"
    look(page, "admin-lessons-scheduled")
    tabs.get_by_role("link", name="Completed 0").click()
    page.get_by_text("No completed lessons.").wait_for()
    look(page, "admin-lessons-empty-tab")
