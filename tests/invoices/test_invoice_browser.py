"""Invoices in Chromium: from the billing page to the invoice and its PDF; the admins' list."""

from __future__ import annotations

import pytest

from tests.conftest import screenshot
from tests.invoices.conftest import invoice_of

pytestmark = [pytest.mark.browser, pytest.mark.stripe]


def test_a_student_finds_and_downloads_an_invoice(
    paid_lesson, page, sign_in, chromium, live_server, admin
):
    payment = paid_lesson()
    invoice = invoice_of(payment)
    sign_in(page, payment.payer)
    page.get_by_role("link", name="Billing").click()
    page.get_by_role("link", name="Invoices →").click()
    page.wait_for_url("**/billing/invoices")
    screenshot(page, "invoices-student-list")
    page.get_by_role("link", name=invoice.number).click()
    page.wait_for_url(f"**/billing/invoices/{invoice.uuid}")
    page.get_by_text("Lesson with").wait_for()
    screenshot(page, "invoices-student-detail")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    assert download.value.suggested_filename == f"{invoice.number}.pdf"
    with open(download.value.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"

    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    office = context.new_page()
    sign_in(office, admin)
    office.get_by_role("link", name="Invoices").click()
    office.wait_for_url("**/admin/invoices")
    office.get_by_role("link", name=invoice.number).wait_for()
    screenshot(office, "invoices-admin-list")
    context.close()
