"""Every redirect that takes a target from the request stays on this site, whatever the
browser would make of the target (dot segments, backslashes, tabs, encoded slashes)."""

from __future__ import annotations

from urllib.parse import quote, urljoin, urlsplit

import pytest

from portal.bookings.models import BookingStatus
from tests import factories

BYPASSES = [
    "//evil.example/phish",
    "/\\evil.example/phish",
    "\\\\evil.example/phish",
    "\\/evil.example/phish",
    "https:evil.example",
    "https://evil.example/",
    "http:/\\evil.example",
    "HTTPS://evil.example",
    "/.//evil.example/phish",
    "/a/..//evil.example",
    "/a/../..//evil.example",
    "/%2e/%2fevil.example",
    "/%2E%2E//evil.example",
    "%2f%2fevil.example",
    "/%2f%2fevil.example",
    "/%5cevil.example",
    "%5c%5cevil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    " //evil.example",
    "\x00//evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,hi",
    "evil.example",
    "///evil.example",
    "/./\\evil.example",
]

# A header cannot carry a newline or a NUL: those reach the site only in a query string.
HEADER_SAFE = [t for t in BYPASSES if not any(ch in t for ch in "\r\n\x00")]


def _browser_lands_on(location: str, base: str = "http://localhost/signin") -> str:
    """Where a browser ends up: tabs and newlines dropped, `\\` read as `/`."""
    cleaned = "".join(ch for ch in location if ch not in "\t\n\r").strip().replace("\\", "/")
    return urlsplit(urljoin(base, cleaned)).netloc


def _assert_stays(response, target: str = "") -> None:
    if response.status_code == 400:
        # The input layer refuses a control character in a query string outright.
        assert any(ch in target for ch in "\t\r\n\x00"), target
        return
    assert response.status_code in (302, 303), response.status_code
    location = response.headers["Location"]
    assert _browser_lands_on(location) in ("localhost", ""), location
    assert location.startswith("/") or location.startswith("http://localhost/"), location
    assert "evil" not in location.split("?")[0].lower(), location


@pytest.mark.parametrize("target", BYPASSES)
def test_sign_in_next_never_leaves_the_site(anon, student, target):
    response = anon.post(
        f"/signin?next={quote(target, safe='')}",
        {"email": student.email, "password": factories.PASSWORD},
    )
    _assert_stays(response, target)


@pytest.mark.parametrize("target", BYPASSES)
def test_signed_in_visit_to_sign_in_never_leaves_the_site(login, student, target):
    response = login(student).get(f"/signin?next={quote(target, safe='')}")
    _assert_stays(response, target)


@pytest.mark.parametrize("target", HEADER_SAFE)
def test_referrer_redirect_after_an_action_never_leaves_the_site(login, tutor, student, target):
    booking = factories.BookingFactory(
        tutor=tutor, student=student, status=BookingStatus.PENDING_PAYMENT
    )
    browser = login(student)
    response = browser.post(
        f"/lessons/{booking.id}/cancel", headers={"Referer": target}, follow_redirects=False
    )
    _assert_stays(response)


@pytest.mark.parametrize("target", HEADER_SAFE)
def test_refused_button_goes_back_only_on_this_site(login, tutor, student, target):
    booking = factories.BookingFactory(tutor=tutor, student=student, status=BookingStatus.COMPLETED)
    # Cancelling a completed lesson is refused: the error goes back to the referring page,
    # if that page is ours.
    response = login(student).post(f"/lessons/{booking.id}/cancel", headers={"Referer": target})
    _assert_stays(response)


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/earnings?type=refund", "/earnings?type=refund"),
        ("/a/b/../c", "/a/c"),
        ("/billing/", "/billing/"),
        ("http://localhost/billing?x=1", "/billing?x=1"),
    ],
)
def test_local_targets_are_kept(app, target, expected):
    from portal.urls import local_path_or

    with app.test_request_context("/"):
        assert local_path_or(target, "/home") == expected


@pytest.mark.parametrize("target", BYPASSES)
def test_local_path_or_refuses_the_bypass_list(app, target):
    from portal.urls import local_path_or

    with app.test_request_context("/"):
        assert local_path_or(target, "/home") == "/home"
