"""Figures people read: money formatted in the audit log, tutors named in the ledger, and
lessons described by student and time on the statement."""

import re

import pytest

from portal.extensions import db
from portal.payments import refunds
from tests.conftest import look

pytestmark = pytest.mark.stripe


@pytest.fixture
def refunded(admin, student, lesson, pay):
    payment = pay(student, lesson)
    refunds.process_refund(admin, payment.uuid, amount=1500, reason="Late start")
    db.session.commit()
    return payment


def test_the_audit_log_shows_money_not_minor_units(login, admin, refunded):
    html = login(admin).get("/admin/audit").text
    assert "amount: $45.00" in html and "refund: $15.00" in html
    assert "platform fee: $6.75" in html
    assert not re.search(r"amount: \d", html)


def test_the_ledger_names_the_tutor(login, admin, tutor, refunded):
    html = login(admin).get("/admin/ledger/").text
    assert f'href="/admin/wallets/{tutor.id}">{tutor.name}</a>' in html


def test_the_statement_describes_lessons(login, tutor, student, lesson, refunded):
    html = login(tutor).get("/earnings").text
    assert f"lesson with {student.name}, {lesson.starts_at:%d %b %Y, %H:%M} UTC" in html
    assert "lesson #" not in html


@pytest.mark.browser
def test_named_figures_in_the_browser(page, chromium, live_server, sign_in, admin, tutor,
                                      refunded):  # fmt: skip
    sign_in(page, admin)
    page.goto("/admin/audit")
    page.get_by_text("refund: $15.00").first.wait_for()
    look(page, "admin-audit-money")
    page.goto("/admin/ledger/")
    assert page.get_by_role("link", name=tutor.name).first.is_visible()
    look(page, "admin-ledger-named")
    other = chromium.new_context(base_url=live_server.url).new_page()
    sign_in(other, tutor)
    other.goto("/earnings")
    assert other.get_by_text("lesson with").first.is_visible()
    look(other, "tutor-statement-named")
    other.context.close()
