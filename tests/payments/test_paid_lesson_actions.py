"""A paid lesson offers each role what it can do, in that role's words: the student a
refund, the tutor a word on whom to ask, the admin a refund from the lesson."""

import pytest

from portal.bookings import services as bookings
from portal.errors import Conflict
from tests.conftest import look


def _paid_lesson(student, lesson, pay):
    pay(student, lesson)
    return lesson


@pytest.mark.parametrize(
    "role, words",
    [
        ("student", "Ask for a refund on the billing page"),
        ("tutor", "only M4SH support can cancel it"),
        ("admin", "refund its payment in full from Payments"),
    ],
)
def test_cancelling_a_paid_lesson_is_refused_in_each_roles_words(
    request, student, tutor, admin, lesson, pay, role, words
):
    _paid_lesson(student, lesson, pay)
    actor = {"student": student, "tutor": tutor, "admin": admin}[role]
    with pytest.raises(Conflict, match=words):
        bookings.cancel_booking(actor, lesson.id)


def test_each_role_is_offered_what_it_can_do(login, student, tutor, admin, lesson, pay):
    payment = pay(student, lesson)
    mine = login(student).get("/lessons").text
    assert f"/billing/payments/{payment.uuid}/refund" in mine and "Cancel and refund" in mine
    assert f"/lessons/{lesson.id}/cancel" not in mine
    theirs = login(tutor).get("/lessons").text
    assert "ask M4SH support to refund" in theirs
    assert f"/lessons/{lesson.id}/cancel" not in theirs
    office = login(admin).get("/admin/lessons").text
    assert f"/admin/payments/{payment.uuid}" in office and "Refund…" in office
    assert f"/lessons/{lesson.id}/cancel" not in office


@pytest.mark.browser
def test_paid_lessons_in_the_browser(page, chromium, live_server, sign_in, student, tutor, admin,
                                     lesson, pay):  # fmt: skip
    payment = pay(student, lesson)
    sign_in(page, student)
    page.get_by_role("link", name="Cancel and refund").click()
    page.wait_for_url(f"**/billing/payments/{payment.uuid}/refund")
    look(page, "student-paid-lesson-refund")
    for user, path, name in ((tutor, "/lessons", "tutor-paid-lesson"),
                             (admin, "/admin/lessons", "admin-paid-lesson")):  # fmt: skip
        other = chromium.new_context(base_url=live_server.url).new_page()
        sign_in(other, user)
        other.goto(path)
        assert other.get_by_role("button", name="Cancel").count() == 0
        if user is admin:
            other.get_by_role("link", name="Refund…").click()
            other.wait_for_url(f"**/admin/payments/{payment.uuid}")
            other.get_by_role("button", name="Review refund").wait_for()
        else:
            assert other.get_by_text("ask M4SH support to refund").is_visible()
        look(other, name)
        other.context.close()
