"""In Chromium: an admin drafts a manual invoice (lines added and removed, totals as
typed), opens it, and the student pays it with the card element against localstripe."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.invoices.models import Invoice
from tests.conftest import screenshot
from tests.payments.test_browser import _fill_card
from tests.support.ledger import assert_ledger_ok
from tests.support.localstripe import VISA

pytestmark = [pytest.mark.browser, pytest.mark.stripe]


def test_an_admin_drafts_and_opens_an_invoice_and_the_student_pays_it(
    page, chromium, live_server, sign_in, admin, student, localstripe, inbox
):
    sign_in(page, admin)
    page.goto("/admin/invoices")
    page.get_by_role("link", name="New invoice").click()
    page.wait_for_url("**/admin/invoices/new")
    page.get_by_label("Student").select_option(label=f"{student.name} ({student.email})")
    page.get_by_label("Description of line 1").fill("Exam preparation pack")
    page.get_by_label("Quantity of line 1").fill("2")
    page.get_by_label("Unit price of line 1").fill("25")
    page.locator("#draft-totals").get_by_text("$50.00").first.wait_for()

    page.get_by_role("button", name="+ Add a line").click()
    page.get_by_label("Description of line 2").wait_for()
    page.get_by_label("Description of line 2").fill("Wrong line")
    page.get_by_role("button", name="+ Add a line").click()
    page.get_by_label("Description of line 3").fill("Mock exam marking")
    page.get_by_label("Unit price of line 3").fill("19.99")
    page.get_by_role("button", name="Remove line 2").click()
    page.get_by_label("Description of line 3").wait_for(state="detached")
    assert page.get_by_label("Description of line 2").input_value() == "Mock exam marking"
    page.get_by_label("Discount").fill("4.99")
    page.locator("#draft-totals").get_by_text("$65.00").wait_for()
    screenshot(page, "invoices-admin-draft")
    page.get_by_role("button", name="Save draft").click()
    page.get_by_role("button", name="Open and send invoice").wait_for()
    screenshot(page, "invoices-admin-draft-saved")
    page.get_by_role("button", name="Open and send invoice").click()
    page.get_by_role("button", name="Void invoice").wait_for()
    invoice = db.session.scalar(sa.select(Invoice))
    db.session.refresh(invoice)
    assert (invoice.status, invoice.total) == ("open", 6500)
    assert page.get_by_text(f"Invoice {invoice.number} is open").is_visible()
    screenshot(page, "invoices-admin-opened")
    # Signing in from a new browser also mails an alert: the invoice's mail is the other.
    [mail] = [m for m in inbox if not m["Subject"].startswith("New sign-in")]

    context = chromium.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    phone = context.new_page()
    phone.set_default_timeout(10_000)
    sign_in(phone, student)
    phone.goto("/billing")
    phone.get_by_role("link", name=invoice.number).click()
    phone.wait_for_url(f"**/billing/invoices/{invoice.uuid}")
    screenshot(phone, "invoices-student-open-390")
    phone.get_by_role("button", name="Pay $65.00").click()
    phone.wait_for_url("**/billing/payments/*")
    _fill_card(phone, VISA)
    screenshot(phone, "invoices-student-pay-390")
    phone.get_by_role("button", name="Pay $65.00").click()
    phone.locator("[data-payment-state=succeeded]").wait_for()
    assert phone.get_by_text(f"Invoice {invoice.number} is paid.").is_visible()
    screenshot(phone, "invoices-student-paid-390")
    context.close()

    db.session.expire_all()
    invoice = db.session.scalar(sa.select(Invoice))
    assert invoice.status == "paid" and invoice.payment.card_last4 == "4242"
    assert_ledger_ok()


@pytest.mark.parametrize("width", [1280, 390])
def test_overdue_and_refunded_invoices_read_as_such(
    chromium, live_server, sign_in, admin, student, paid_lesson, width
):
    from datetime import timedelta

    from portal.db import utcnow
    from portal.invoices import services
    from portal.invoices.services import Line
    from portal.payments.refunds import process_refund

    late = services.create_invoice(
        user_id=student.id, currency="usd", lines=[Line("Course book", 1, 3000)], kind="manual"
    )
    services.finalize_invoice(late)
    late.due_at = utcnow() - timedelta(days=3)
    db.session.commit()
    payment = paid_lesson()
    process_refund(admin, payment.uuid, amount=1500, reason="Shortened lesson")
    db.session.commit()
    lesson_invoice = db.session.scalar(sa.select(Invoice).where(Invoice.payment_id == payment.id))

    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": width, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, student)
    page.goto("/billing")
    page.get_by_role("heading", name="Overdue invoices").wait_for()
    screenshot(page, f"invoices-billing-overdue-{width}")
    page.goto("/billing/invoices")
    assert page.get_by_text("partly refunded").is_visible()
    assert page.get_by_text("overdue").first.is_visible()
    screenshot(page, f"invoices-student-list-refunded-{width}")
    page.get_by_role("link", name=lesson_invoice.number).click()
    page.get_by_role("heading", name="Credit notes").wait_for()
    screenshot(page, f"invoices-credit-notes-{width}")
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile(r"^PDF of CN-")).click()
    assert download.value.suggested_filename.startswith("CN-")

    context.close()
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": width, "height": 900}
    )
    office = context.new_page()
    office.set_default_timeout(10_000)
    sign_in(office, admin)
    office.goto("/admin/invoices")
    office.get_by_role("heading", name="Overdue invoices").wait_for()
    screenshot(office, f"invoices-admin-overdue-{width}")
    office.goto("/admin/invoices/new")
    screenshot(office, f"invoices-admin-new-{width}")
    context.close()
