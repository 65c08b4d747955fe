"""The admins' invoice list filtered, the accounting CSV and the month's PDF zip, opened
and read line by line."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.invoices import documents
from portal.invoices.exports import CSV_HEADER
from portal.invoices.models import CreditNote, Invoice
from portal.invoices.services import Line, create_invoice, finalize_invoice, mark_paid, void_invoice
from tests.factories import UserFactory

NOV = datetime(2026, 11, 10, 9, 30, tzinfo=UTC)
DEC = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def _invoice(student, *, issued=None, kind="manual", lines=((1, 5000),), discount=0, then=None):
    invoice = create_invoice(
        user_id=student.id,
        currency="usd",
        lines=[Line(f"Item {n}", q, p) for n, (q, p) in enumerate(lines)],
        discount=discount,
        kind=kind,
    )
    if issued is not None:
        finalize_invoice(invoice, now=issued)
        if then == "paid":
            mark_paid(invoice, paid_at=issued)
        elif then == "void":
            void_invoice(invoice)
    db.session.commit()
    return invoice


@pytest.fixture
def books(app, monkeypatch):
    """Two students' invoices over November and December, at 20 % tax."""
    monkeypatch.setitem(app.config, "TAX_RATE_PERCENT", Decimal("20"))
    ann = UserFactory(role="student", name="Ann Able", email="ann@m4sh.app")
    bob = UserFactory(role="student", name='Bob, "Jr"', email="bob@m4sh.app")
    return {
        "ann": ann,
        "bob": bob,
        # INV-2026-000001: 2 × 25.00 + 10.00 − 5.00 discount = 55.00, tax 11.00, 66.00
        "paid": _invoice(ann, issued=NOV, lines=((2, 2500), (1, 1000)), discount=500, then="paid"),
        "void": _invoice(bob, issued=NOV.replace(day=20), then="void"),  # 000002
        "overdue": _invoice(ann, issued=NOV.replace(day=25), kind="lesson"),  # 000003, due Dec 9
        "open": _invoice(bob, issued=DEC),  # 000004, due later
        "draft": _invoice(ann),
    }


def _rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_the_csv_has_one_line_per_document_with_major_units_and_the_tax_apart(
    login, admin, books, monkeypatch
):
    monkeypatch.setattr("portal.invoices.exports.utcnow", lambda: DEC.replace(day=12))
    response = login(admin).get("/admin/invoices/export.csv")
    assert response.is_streamed
    assert "attachment" in response.headers["Content-Disposition"]
    header, *lines = _rows(response)
    assert tuple(header) == CSV_HEADER
    records = [dict(zip(header, line, strict=True)) for line in lines]
    # Issued documents only, oldest first: the draft has no number and is not exported.
    assert [r["number"] for r in records] == [f"INV-2026-00000{n}" for n in (1, 2, 3, 4)]
    paid = records[0]
    assert paid == {
        "document": "invoice",
        "number": "INV-2026-000001",
        "credits_invoice": "",
        "kind": "manual",
        "status": "paid",
        "issued_on": "2026-11-10",
        "due_on": "2026-11-24",
        "paid_on": "2026-11-10",
        "student_id": str(books["ann"].id),
        "student_name": "Ann Able",
        "student_email": "ann@m4sh.app",
        "currency": "USD",
        "subtotal": "60.00",
        "discount": "5.00",
        "net": "55.00",
        "tax_rate": "20.00",
        "tax": "11.00",
        "total": "66.00",
    }
    assert [r["status"] for r in records] == ["paid", "void", "overdue", "open"]
    assert records[1]["student_name"] == 'Bob, "Jr"'  # quoted by the CSV, read back whole
    assert records[2]["kind"] == "lesson"
    for r in records:
        net, tax, total = (Decimal(r[k]) for k in ("net", "tax", "total"))
        assert net + tax == total
        assert Decimal(r["subtotal"]) - Decimal(r["discount"]) == net


def test_the_csv_takes_the_pages_filters(login, admin, books):
    browser = login(admin)
    ann, bob = books["ann"], books["bob"]

    def numbers(query: str) -> list[str]:
        return [line[1] for line in _rows(browser.get(f"/admin/invoices/export.csv?{query}"))[1:]]

    assert numbers("status=paid") == ["INV-2026-000001"]
    assert numbers("status=void") == ["INV-2026-000002"]
    assert numbers("status=draft") == []
    assert numbers("kind=lesson") == ["INV-2026-000003"]
    assert numbers(f"student={bob.id}") == ["INV-2026-000002", "INV-2026-000004"]
    assert numbers("student=ANN@m4sh.app") == ["INV-2026-000001", "INV-2026-000003"]
    assert numbers("from=2026-11-20&to=2026-11-25") == ["INV-2026-000002", "INV-2026-000003"]
    assert numbers(f"from=2026-12-01&student={ann.id}") == []


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("status=late", "Status", "Unknown status 'late'"),
        ("kind=gift", "Kind", "Unknown kind 'gift'"),
        ("student=nobody", "Student", "e-mail address or id"),
        ("student=999999", "Student", "No student with the e-mail address or id '999999'"),
        ("from=2026-13-01", "Issued from", "Use a date like 2026-01-31."),
        ("from=2026-12-01&to=2026-11-01", "Issued to", "The end date is before the start date."),
    ],
)
def test_bad_filters_get_a_clear_message(login, admin, books, query, field, message):
    browser = login(admin)
    page = browser.get(f"/admin/invoices?{query}")
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert f"{field}: " in html and message.replace("'", "&#39;") in html
    assert "INV-2026-000001" not in html  # no list under filters that were refused
    export = browser.get(f"/admin/invoices/export.csv?{query}")
    assert export.status_code == 400
    assert message.replace("'", "&#39;") in export.get_data(as_text=True)


def test_a_tutor_is_not_a_student_to_filter_by(login, admin, books, tutor):
    page = login(admin).get(f"/admin/invoices?student={tutor.email}")
    assert page.status_code == 422
    assert "No student with the e-mail address or id" in page.get_data(as_text=True)


def test_the_page_filters_with_htmx_and_keeps_the_filters_on_the_csv_link(login, admin, books):
    browser = login(admin)
    page = browser.get(
        f"/admin/invoices?status=open&student={books['bob'].id}",
        headers={"HX-Request": "true", "HX-Target": "invoices"},
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.lstrip().startswith('<div id="invoices"') and "<html" not in html
    assert "INV-2026-000004" in html and "INV-2026-000001" not in html
    assert f"/admin/invoices/export.csv?status=open&amp;student={books['bob'].id}" in html
    assert "1 invoice matches" in html
    whole = browser.get("/admin/invoices").get_data(as_text=True)
    assert "5 invoices" in whole and "Draft" in whole
    assert browser.get("/admin/invoices?status=overdue").get_data(as_text=True).count(
        "INV-2026-"
    ) == (1 if books["overdue"].is_overdue else 0)


def test_the_month_zip_holds_each_pdf_rendered_once_and_served_as_stored(
    login, admin, books, monkeypatch
):
    renders = []
    real_write = documents._write_pdf
    monkeypatch.setattr(
        documents, "_write_pdf", lambda html: renders.append(html) or real_write(html)
    )
    browser = login(admin)
    response = browser.get("/admin/invoices/pdfs.zip?month=2026-11")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert 'filename="m4sh-invoices-2026-11.zip"' in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names == ["INV-2026-000001.pdf", "INV-2026-000002.pdf", "INV-2026-000003.pdf"]
    assert len(renders) == 3  # one render per invoice, none stored before
    for name in names:
        pdf = archive.read(name)
        assert pdf.startswith(b"%PDF-")
        invoice = db.session.query(Invoice).filter_by(number=name.removesuffix(".pdf")).one()
        download = browser.get(f"/billing/invoices/{invoice.uuid}/pdf").get_data()
        assert download == pdf  # the stored bytes, in the zip and on every download

    again = browser.get("/admin/invoices/pdfs.zip?month=2026-11").get_data()
    assert len(renders) == 3  # nothing rendered twice
    assert [zipfile.ZipFile(io.BytesIO(again)).read(n) for n in names] == [
        archive.read(n) for n in names
    ]
    december = zipfile.ZipFile(
        io.BytesIO(browser.get("/admin/invoices/pdfs.zip?month=2026-12").get_data())
    )
    assert december.namelist() == ["INV-2026-000004.pdf"]
    empty = zipfile.ZipFile(
        io.BytesIO(browser.get("/admin/invoices/pdfs.zip?month=2025-01").get_data())
    )
    assert empty.namelist() == []


@pytest.mark.parametrize("month", ["", "2026-13", "2026-1", "November", "0000-01", "2026-11-01"])
def test_a_bad_month_is_refused(login, admin, month):
    response = login(admin).get(f"/admin/invoices/pdfs.zip?month={month}")
    assert response.status_code == 400
    assert "Choose a month like 2026-11." in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    ["/admin/invoices", "/admin/invoices/export.csv", "/admin/invoices/pdfs.zip?month=2026-11"],
)
def test_only_admins_export(login, anon, student, tutor, path):
    for user in (student, tutor):
        assert login(user).get(path).status_code == 403
    response = anon.get(path)
    assert response.status_code == 302 and "/signin" in response.headers["Location"]


@pytest.mark.stripe
def test_credit_notes_are_lines_of_their_own_and_pdfs_in_the_zip(
    app, paid_lesson, login, admin, monkeypatch
):
    from portal.invoices.credit_notes import reverse_for_refund
    from portal.payments.refunds import process_refund
    from tests.invoices.conftest import invoice_of

    monkeypatch.setitem(app.config, "TAX_RATE_PERCENT", Decimal("20"))
    payment = paid_lesson()  # 45.00 charged: 37.50 and 7.50 tax
    first = process_refund(admin, payment.uuid, amount=1500, reason="Shortened lesson")
    process_refund(admin, payment.uuid, amount=600, reason="Late start")
    db.session.commit()
    reverse_for_refund(first.id)  # the first refund failed at the bank later
    db.session.commit()
    invoice = invoice_of(payment)
    browser = login(admin)

    header, *lines = _rows(browser.get("/admin/invoices/export.csv"))
    records = [dict(zip(header, line, strict=True)) for line in lines]
    year = invoice.issued_at.year
    assert [(r["document"], r["number"]) for r in records] == [
        ("invoice", invoice.number),
        ("credit_note", f"CN-{year}-000001"),
        ("credit_note", f"CN-{year}-000002"),
        ("credit_note_reversal", f"CN-{year}-000003"),
    ]
    assert [r["credits_invoice"] for r in records] == ["", *[invoice.number] * 3]
    figures = [(r["net"], r["tax"], r["total"]) for r in records]
    assert figures == [
        ("37.50", "7.50", "45.00"),
        ("-12.50", "-2.50", "-15.00"),  # 15.00 given back, 2.50 of it tax
        ("-5.00", "-1.00", "-6.00"),
        ("12.50", "2.50", "15.00"),  # the failed refund's credit taken back
    ]
    assert {r["kind"] for r in records} == {"lesson"}
    assert {r["student_email"] for r in records} == {payment.payer.email}
    # What was billed after credits: the column sums.
    assert sum(Decimal(r["total"]) for r in records) == Decimal("39.00")
    # Filters reach the notes through their invoice; another student's has none.
    other = UserFactory(role="student")
    assert _rows(browser.get(f"/admin/invoices/export.csv?student={other.id}"))[1:] == []
    by_kind = _rows(browser.get("/admin/invoices/export.csv?kind=lesson&status=paid"))[1:]
    assert len(by_kind) == 4

    month = invoice.issued_at.strftime("%Y-%m")
    archive = zipfile.ZipFile(
        io.BytesIO(browser.get(f"/admin/invoices/pdfs.zip?month={month}").get_data())
    )
    assert archive.namelist() == [f"{invoice.number}.pdf"] + [
        f"CN-{year}-00000{n}.pdf" for n in (1, 2, 3)
    ]
    note_pdf = archive.read(f"CN-{year}-000001.pdf")
    assert note_pdf.startswith(b"%PDF-")
    note = db.session.query(CreditNote).filter_by(number=f"CN-{year}-000001").one()
    assert db.session.scalar(sa.select(CreditNote.pdf).where(CreditNote.id == note.id)) == note_pdf
