"""A paid lesson gets one paid invoice, its PDF is rendered once, and each side sees only
what is theirs."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from portal.db import utcnow
from portal.extensions import db
from portal.invoices.models import Invoice, InvoiceStatus
from portal.payments.models import PaymentStatus
from tests.factories import UserFactory
from tests.invoices.conftest import invoice_of

pytestmark = pytest.mark.stripe


def test_a_paid_lesson_gets_one_paid_invoice_for_what_was_charged(paid_lesson):
    payment = paid_lesson()
    assert payment.status == PaymentStatus.SUCCEEDED
    invoice = invoice_of(payment)
    assert (invoice.status, invoice.total, invoice.tax, invoice.user_id) == (
        InvoiceStatus.PAID,
        payment.amount,
        0,
        payment.payer_id,
    )
    assert invoice.paid_at == invoice.issued_at == payment.succeeded_at
    assert invoice.number.startswith(f"INV-{payment.succeeded_at.year}-")
    [item] = invoice.items
    assert (item.quantity, item.unit_price, item.booking_id) == (1, 4500, payment.booking_id)
    assert "Lesson with" in item.description and "60 minutes" in item.description


def test_a_success_seen_again_does_not_invoice_again(paid_lesson):
    from portal.payments.outcome import apply_intent
    from portal.providers import get_provider

    payment = paid_lesson()
    apply_intent(payment, get_provider().retrieve_payment_intent(payment.provider_payment_id))
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 1


def test_the_pdf_is_rendered_once_and_every_download_is_the_same(paid_lesson, login):
    payment = paid_lesson()
    invoice = invoice_of(payment)
    browser = login(payment.payer)
    first = browser.get(f"/billing/invoices/{invoice.uuid}/pdf")
    second = browser.get(f"/billing/invoices/{invoice.uuid}/pdf")
    assert first.status_code == second.status_code == 200
    assert first.mimetype == "application/pdf"
    assert f"{invoice.number}.pdf" in first.headers["Content-Disposition"]
    assert first.data == second.data and first.data.startswith(b"%PDF")
    text = PdfReader(io.BytesIO(first.data)).pages[0].extract_text()
    for expected in (invoice.number, payment.payer.name, "$45.00", "PAID"):
        assert expected in text


def test_pages_and_api_show_a_students_own_invoices(paid_lesson, login, bearer, student):
    payment = paid_lesson()
    invoice = invoice_of(payment)
    page = login(student).get("/billing/invoices").get_data(as_text=True)
    assert invoice.number in page and "$45.00" in page
    detail = login(student).get(f"/billing/invoices/{invoice.uuid}").get_data(as_text=True)
    assert "Lesson with" in detail and "Download PDF" in detail

    listing = login(student).client.get("/api/v1/invoices/", headers=bearer(student)).get_json()
    assert listing["count"] == 1 and listing["next"] is None
    [shown] = listing["results"]
    assert (shown["id"], shown["number"], shown["status"], shown["total"]) == (
        str(invoice.uuid),
        invoice.number,
        "paid",
        4500,
    )
    assert shown["items"][0]["unit_price"] == 4500
    pdf = login(student).client.get(
        f"/api/v1/invoices/{invoice.uuid}/pdf/", headers=bearer(student)
    )
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


def test_somebody_elses_invoice_is_not_found(paid_lesson, login, bearer):
    invoice = invoice_of(paid_lesson())
    other = UserFactory(role="student")
    browser = login(other)
    for path in (f"/billing/invoices/{invoice.uuid}", f"/billing/invoices/{invoice.uuid}/pdf"):
        assert browser.get(path).status_code == 404
    api = browser.client
    for path in (f"/api/v1/invoices/{invoice.uuid}/", f"/api/v1/invoices/{invoice.uuid}/pdf/"):
        response = api.get(path, headers=bearer(other))
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"
    listing = api.get("/api/v1/invoices/", headers=bearer(other)).get_json()
    assert listing["count"] == 0
    assert browser.get("/billing/invoices/not-a-uuid").status_code == 404


def test_tutors_see_no_invoices_and_admins_see_all(paid_lesson, login, bearer, tutor, admin):
    invoice = invoice_of(paid_lesson())
    assert login(tutor).get("/billing/invoices").status_code == 403
    assert login(tutor).client.get("/api/v1/invoices/", headers=bearer(tutor)).status_code == 403
    office = login(admin)
    listing = office.get("/admin/invoices").get_data(as_text=True)
    assert invoice.number in listing and invoice.user.email in listing
    assert office.get(f"/billing/invoices/{invoice.uuid}").status_code == 200
    assert office.client.get("/api/v1/invoices/", headers=bearer(admin)).get_json()["count"] == 1


def test_a_draft_has_no_pdf(login, admin, student):
    from portal.invoices.services import Line, create_invoice

    invoice = create_invoice(user_id=student.id, currency="usd", lines=[Line("Lesson", 1, 100)])
    db.session.commit()
    response = login(admin).get(f"/billing/invoices/{invoice.uuid}/pdf")
    assert response.status_code == 409


def test_the_lists_page_with_htmx(login, student, admin):
    from portal.invoices.services import Line, create_invoice, finalize_invoice

    for _ in range(51):
        finalize_invoice(
            create_invoice(user_id=student.id, currency="usd", lines=[Line("Lesson", 1, 100)])
        )
    db.session.commit()
    for who, path in ((student, "/billing/invoices"), (admin, "/admin/invoices")):
        browser = login(who)
        fragment = browser.get(
            f"{path}?page=2", headers={"HX-Request": "true", "HX-Target": "invoices"}
        )
        assert fragment.status_code == 200
        html = fragment.get_data(as_text=True)
        assert html.lstrip().startswith('<div id="invoices">') and "<html" not in html
        assert "INV-" in html and "Page 2 of" in html


def test_an_invoice_shows_the_credit_notes_of_its_refunds(paid_lesson, login, admin, student):
    from portal.payments.refunds import process_refund

    payment = paid_lesson()
    process_refund(admin, payment.uuid, amount=1500, reason="Shortened lesson")
    db.session.commit()
    invoice = invoice_of(payment)
    page = login(student).get(f"/billing/invoices/{invoice.uuid}").get_data(as_text=True)
    assert "Credit notes" in page and "$15.00" in page and "Shortened lesson" in page
    assert invoice.status == InvoiceStatus.PAID and invoice.total == 4500


def test_lesson_and_manual_invoices_share_one_series_past_six_digits(paid_lesson, student):
    """The lesson invoice's number is made in SQL on PostgreSQL and in Python elsewhere:
    both pad to six digits, grow past them alike, and take turns in one series."""
    from portal.invoices import services
    from portal.invoices.models import InvoiceCounter
    from portal.invoices.services import Line

    year = utcnow().year
    db.session.merge(InvoiceCounter(year=year, last_number=999_998))
    db.session.commit()
    first = invoice_of(paid_lesson())
    draft = services.create_invoice(
        user_id=student.id, currency="usd", lines=[Line("Notes", 1, 1000)]
    )
    manual = services.finalize_invoice(draft)
    db.session.commit()
    second = invoice_of(paid_lesson())
    assert [first.number, manual.number, second.number] == [
        f"INV-{year}-999999",
        f"INV-{year}-1000000",
        f"INV-{year}-1000001",
    ]
