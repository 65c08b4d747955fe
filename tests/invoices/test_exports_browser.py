"""The accountant's page in Chromium: filters swapped in by htmx, the CSV and the month's
zip downloaded; at a desktop width and a phone's."""

from __future__ import annotations

import csv
import zipfile
from datetime import UTC, datetime

import pytest

from portal.extensions import db
from portal.invoices.services import Line, create_invoice, finalize_invoice, mark_paid
from tests.conftest import screenshot
from tests.factories import UserFactory

pytestmark = pytest.mark.browser


def _invoices():
    ann = UserFactory(role="student", name="Ann Able", email="ann@m4sh.app")
    bob = UserFactory(role="student", name="Bob Brown", email="bob@m4sh.app")
    for day, student, paid in ((3, ann, True), (9, bob, True), (20, ann, False)):
        invoice = create_invoice(user_id=student.id, currency="usd", lines=[Line("Maths", 2, 2500)])
        finalize_invoice(invoice, now=datetime(2026, 11, day, 10, tzinfo=UTC))
        if paid:
            mark_paid(invoice)
    db.session.commit()
    return ann, bob


@pytest.mark.parametrize("width", [1280, 390])
def test_an_admin_filters_and_downloads_the_months_documents(
    chromium, live_server, sign_in, admin, width
):
    ann, _ = _invoices()
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": width, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, admin)
    page.goto("/admin/invoices")
    rows = page.locator("#invoices tbody tr")
    assert rows.count() == 3

    page.get_by_label("Status").select_option("paid")
    page.wait_for_url("**status=paid**")
    page.get_by_text("2 invoices match").wait_for()
    page.get_by_label("Student").fill("ann@m4sh.app")
    page.get_by_role("button", name="Filter").click()
    page.get_by_text("1 invoice matches").wait_for()
    assert rows.count() == 1 and "INV-2026-000001" in rows.first.inner_text()
    screenshot(page, f"invoices-admin-filtered-{width}")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV (filtered)").click()
    with open(download.value.path(), newline="") as exported:
        lines = list(csv.reader(exported))
    assert [line[1] for line in lines[1:]] == ["INV-2026-000001"]

    page.get_by_label("Issued from").fill("2026-11-05")
    page.get_by_label("Issued to").fill("2026-10-01")
    page.get_by_role("button", name="Filter").click()
    page.get_by_text("The end date is before the start date.").wait_for()
    screenshot(page, f"invoices-admin-bad-filter-{width}")

    page.get_by_label("Month", exact=True).fill("2026-11")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download PDFs (zip)").click()
    assert download.value.suggested_filename == "m4sh-invoices-2026-11.zip"
    names = zipfile.ZipFile(download.value.path()).namelist()
    assert names == [f"INV-2026-00000{n}.pdf" for n in (1, 2, 3)]
    screenshot(page, f"invoices-admin-exports-{width}")
    context.close()
