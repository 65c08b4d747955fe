"""An admin's refund in Chromium: explicit full or part, a reason, then a confirmation that
spells out the amount and the tutor's share."""

import pytest

from portal.extensions import db
from portal.payments.models import Payment
from tests.conftest import look

pytestmark = pytest.mark.browser


def test_admin_reviews_then_confirms_a_full_refund(page, sign_in, admin, student, lesson, pay):
    payment = pay(student, lesson)
    sign_in(page, admin)
    page.goto(f"/admin/payments/{payment.uuid}")
    page.get_by_role("button", name="Review refund").click()
    page.get_by_text("Choose a full refund").wait_for()
    assert page.get_by_text("Give a reason").is_visible()
    look(page, "admin-refund-errors")
    page.get_by_label("Full refund").check()
    page.get_by_label("Reason").fill("Tutor was ill")
    page.get_by_role("button", name="Review refund").click()
    page.get_by_role("button", name="Confirm refund of $45.00").wait_for()
    assert page.get_by_text("(a full refund)").is_visible()
    assert page.locator(".confirm-refund").get_by_text("$38.25").is_visible()  # tutor's share
    look(page, "admin-refund-confirm")
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).amount_refunded == 0
    page.get_by_role("button", name="Confirm refund of $45.00").click()
    page.get_by_text("Refunded $45.00.").wait_for()
    look(page, "admin-refund-done")
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).amount_refunded == 4500
