"""The admin's draft form (htmx: lines added and removed, totals as typed), open and void
on the invoice page; overdue invoices shown apart; the student's way to pay."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.db import utcnow
from portal.extensions import db
from portal.invoices import services
from portal.invoices.models import Invoice
from portal.invoices.services import Line
from tests.factories import UserFactory

FORM = {
    "description-0": "Exam preparation pack",
    "quantity-0": "2",
    "unit_price-0": "25.00",
    "description-1": "Mock exam marking",
    "quantity-1": "1",
    "unit_price-1": "19.99",
    "discount": "4.99",
}


def htmx(target: str) -> dict:
    return {"HX-Request": "true", "HX-Target": target}


def test_the_draft_form_adds_and_removes_lines_and_shows_totals(login, admin, student):
    browser = login(admin)
    page = browser.get("/admin/invoices/new").get_data(as_text=True)
    assert 'name="description-0"' in page and "description-1" not in page
    assert student.name in page

    added = browser.post(
        "/admin/invoices/new",
        {"student_id": student.id, **FORM, "action": "add"},
        headers=htmx("draft-form"),
    )
    html = added.get_data(as_text=True)
    assert added.status_code == 200 and html.lstrip().startswith('<form id="draft-form"')
    assert 'name="description-2"' in html and "autofocus" in html
    assert "has-error" not in html  # a blank new line is not an error yet

    totals = browser.post(
        "/admin/invoices/new",
        {"student_id": student.id, **FORM, "action": "totals"},
        headers=htmx("draft-totals"),
    ).get_data(as_text=True)
    assert totals.lstrip().startswith('<dl id="draft-totals"')
    for figure in ("$69.99", "−$4.99", "$65.00"):
        assert figure in totals

    removed = browser.post(
        "/admin/invoices/new",
        {"student_id": student.id, **FORM, "action": "remove-0"},
        headers=htmx("draft-form"),
    ).get_data(as_text=True)
    assert "Exam preparation pack" not in removed and 'value="Mock exam marking"' in removed
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"description-0": ""}, "description-0", "Describe the line"),
        ({"quantity-0": "0"}, "quantity-0", "A whole number from 1"),
        ({"quantity-0": "-2"}, "quantity-0", "A whole number from 1"),
        ({"quantity-0": "1.5"}, "quantity-0", "A whole number from 1"),
        ({"unit_price-0": "0"}, "unit_price-0", "more than zero"),
        ({"unit_price-0": "-5"}, "unit_price-0", "like 45 or 45.50"),
        ({"unit_price-0": "1.234"}, "unit_price-0", "like 45 or 45.50"),
        ({"discount": "500"}, "discount", "more than the subtotal"),
        ({"student_id": ""}, "student_id", "Choose a student"),
        ({"student_id": "999999"}, "student_id", "No student with this id"),
    ],
)
def test_bad_drafts_are_refused_with_the_field_named(login, admin, student, change, field, message):
    form = {"student_id": student.id, **FORM, "action": "save", **change}
    response = login(admin).post("/admin/invoices/new", form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html or "alert-error" in html
    assert message in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0


def test_a_tutor_is_not_a_student_to_invoice(login, admin, tutor):
    form = {"student_id": tutor.id, **FORM, "action": "save"}
    response = login(admin).post("/admin/invoices/new", form)
    assert response.status_code == 422 and "No student with this id" in response.get_data(
        as_text=True
    )


def test_an_admin_saves_opens_and_voids_an_invoice_on_its_page(login, admin, student, inbox):
    browser = login(admin)
    saved = browser.post(
        "/admin/invoices/new", {"student_id": student.id, **FORM, "action": "save"}
    )
    assert saved.status_code == 303
    invoice = db.session.scalar(sa.select(Invoice))
    assert (invoice.kind, invoice.status, invoice.total, invoice.discount) == (
        "manual",
        "draft",
        6500,
        499,
    )
    page = browser.get(saved.location).get_data(as_text=True)
    assert "Open and send invoice" in page and "(draft)" in page
    # The student sees no draft.
    assert login(student).get(saved.location).status_code == 404

    opened = browser.post(f"/admin/invoices/{invoice.uuid}/finalize")
    assert opened.status_code == 303
    page = browser.get(opened.location).get_data(as_text=True)
    db.session.expire_all()
    assert invoice.status == "open" and invoice.number in page and "Void invoice" in page
    assert [m["Subject"] for m in inbox] == [f"Invoice {invoice.number} from M4SH: $65.00"]
    # Twice is refused, and says so.
    again = browser.post(f"/admin/invoices/{invoice.uuid}/finalize", follow_redirects=True)
    assert "An open invoice cannot be opened" in again.get_data(as_text=True)
    assert len(inbox) == 1

    student_page = login(student).get(f"/billing/invoices/{invoice.uuid}").get_data(as_text=True)
    assert "Pay $65.00" in student_page

    voided = browser.post(f"/admin/invoices/{invoice.uuid}/void", follow_redirects=True)
    assert f"Invoice {invoice.number} is void." in voided.get_data(as_text=True)
    db.session.expire_all()
    assert invoice.status == "void"
    assert "Pay $65.00" not in login(student).get(f"/billing/invoices/{invoice.uuid}").get_data(
        as_text=True
    )


def test_overdue_invoices_are_shown_apart(login, admin, student):
    late = services.create_invoice(
        user_id=student.id, currency="usd", lines=[Line("Course book", 1, 3000)], kind="manual"
    )
    services.finalize_invoice(late)
    late.due_at = utcnow() - timedelta(days=3)
    current = services.create_invoice(
        user_id=student.id, currency="usd", lines=[Line("Workbook", 1, 1500)], kind="manual"
    )
    services.finalize_invoice(current)
    db.session.commit()
    billing = login(student).get("/billing").get_data(as_text=True)
    overdue_part, rest = billing.split('id="open-invoices-title"')
    assert "Overdue invoices" in overdue_part and late.number in overdue_part
    assert current.number not in overdue_part and current.number in rest
    fragment = login(admin).get("/admin/invoices/overdue").get_data(as_text=True)
    assert late.number in fragment and current.number not in fragment
    assert student.email in fragment
    listing = login(admin).get("/admin/invoices").get_data(as_text=True)
    assert "/admin/invoices/overdue" in listing and "New invoice" in listing


def test_only_admins_reach_the_draft_actions(login, student, tutor, anon):
    other = UserFactory(role="student")
    invoice = services.create_invoice(
        user_id=other.id, currency="usd", lines=[Line("Course book", 1, 3000)], kind="manual"
    )
    db.session.commit()
    for who in (login(student), login(tutor)):
        assert who.get("/admin/invoices/new").status_code == 403
        assert who.post(f"/admin/invoices/{invoice.uuid}/finalize").status_code == 403
        assert who.get("/admin/invoices/overdue").status_code == 403
    assert anon.get("/admin/invoices/new").status_code == 302
