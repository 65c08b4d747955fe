"""Bad input to the invoice API: a clear 400/403/404/409 in the error shape, and nothing
written."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.invoices import services
from portal.invoices.models import Invoice, InvoiceItem
from portal.invoices.services import Line
from portal.payments.models import Payment
from tests.factories import UserFactory

GOOD = {"description": "Course book", "quantity": 1, "unit_price": 3000}


def counts() -> tuple[int, int, int]:
    return tuple(
        db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (Invoice, InvoiceItem, Payment)
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": []}, "items"),
        ({"items": "Course book"}, "items"),
        ({"items": [{**GOOD, "description": ""}]}, "description"),
        ({"items": [{**GOOD, "description": "   "}]}, "description"),
        ({"items": [{"quantity": 1, "unit_price": 3000}]}, "description"),
        ({"items": [{**GOOD, "description": 7}]}, "description"),
        ({"items": [{**GOOD, "quantity": 0}]}, "quantity"),
        ({"items": [{**GOOD, "quantity": -1}]}, "quantity"),
        ({"items": [{**GOOD, "quantity": 1.5}]}, "quantity"),
        ({"items": [{**GOOD, "quantity": "2"}]}, "quantity"),
        ({"items": [{**GOOD, "quantity": True}]}, "quantity"),
        ({"items": [{**GOOD, "unit_price": 0}]}, "unit_price"),
        ({"items": [{**GOOD, "unit_price": -100}]}, "unit_price"),
        ({"items": [{**GOOD, "unit_price": 30.5}]}, "unit_price"),
        ({"items": [{**GOOD, "unit_price": "3000"}]}, "unit_price"),
        ({"items": [{**GOOD, "unit_price": 10**15}]}, "unit_price"),
        ({"items": [{**GOOD, "colour": "red"}]}, "colour"),
        ({"items": [GOOD], "discount": 3001}, "discount"),
        ({"items": [GOOD], "discount": -1}, "discount"),
        ({"items": [GOOD], "discount": 10.5}, "discount"),
        ({"items": [GOOD], "student_id": None}, "student_id"),
        ({"items": [GOOD], "student_id": 999999}, "student_id"),
        ({"items": [GOOD], "student_id": "abc"}, "student_id"),
        ({"items": [GOOD], "tax": 0}, "tax"),
        ({"items": [GOOD] * 51}, "items"),
        ({"items": [{**GOOD, "quantity": 1001}]}, "quantity"),
        ({"items": [GOOD, {**GOOD, "description": "x" * 256}]}, "description"),
        ({"items": [GOOD, None]}, "items"),
        ({"items": [GOOD], "discount": "5"}, "discount"),
    ],
)
def test_a_bad_draft_is_refused_and_nothing_is_written(client, admin, student, bearer, body, field):
    payload = {"student_id": student.id, **body}
    response = client.post("/api/v1/admin/invoices/", json=payload, headers=bearer(admin))
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert error["code"] and error["message"]
    assert field in error.get("fields", {}), error
    assert counts() == (0, 0, 0)


def test_a_tutor_or_an_admin_is_not_a_student_to_invoice(client, admin, tutor, bearer):
    for who in (tutor, admin):
        response = client.post(
            "/api/v1/admin/invoices/",
            json={"student_id": who.id, "items": [GOOD]},
            headers=bearer(admin),
        )
        assert response.status_code == 400 and "student_id" in response.json["error"]["fields"]
    assert counts() == (0, 0, 0)


def test_a_body_that_is_not_json_is_refused(client, admin, bearer):
    response = client.post(
        "/api/v1/admin/invoices/",
        data="items=1",
        headers={**bearer(admin)},
        content_type="text/plain",
    )
    assert response.status_code in (400, 415)
    assert counts() == (0, 0, 0)


def test_only_admins_draft_open_and_void(client, student, tutor, bearer):
    invoice = services.create_invoice(
        user_id=student.id, currency="usd", lines=[Line("Course book", 1, 3000)], kind="manual"
    )
    db.session.commit()
    for who in (student, tutor):
        headers = bearer(who)
        create = client.post(
            "/api/v1/admin/invoices/",
            json={"student_id": student.id, "items": [GOOD]},
            headers=headers,
        )
        assert create.status_code == 403
        for action in ("finalize", "void"):
            url = f"/api/v1/admin/invoices/{invoice.uuid}/{action}/"
            assert client.post(url, headers=headers).status_code == 403
    db.session.expire_all()
    assert invoice.status == "draft" and counts() == (1, 1, 0)


def test_tutors_cannot_see_or_pay_student_invoices(client, student, tutor, bearer):
    invoice = services.create_invoice(
        user_id=student.id, currency="usd", lines=[Line("Course book", 1, 3000)], kind="manual"
    )
    services.finalize_invoice(invoice)
    db.session.commit()
    headers = bearer(tutor)
    for method, url in (
        ("GET", "/api/v1/invoices/"),
        ("GET", f"/api/v1/invoices/{invoice.uuid}/"),
        ("GET", f"/api/v1/invoices/{invoice.uuid}/pdf/"),
        ("POST", f"/api/v1/invoices/{invoice.uuid}/pay/"),
        ("GET", f"/api/v1/invoices/{invoice.uuid}/credit-notes/1/pdf/"),
    ):
        assert client.open(url, method=method, headers=headers).status_code == 403, url


def test_somebody_elses_invoice_is_not_found(client, student, bearer):
    other = UserFactory(role="student")
    invoice = services.create_invoice(
        user_id=other.id, currency="usd", lines=[Line("Course book", 1, 3000)], kind="manual"
    )
    services.finalize_invoice(invoice)
    db.session.commit()
    headers = bearer(student)
    for method, url in (
        ("GET", f"/api/v1/invoices/{invoice.uuid}/"),
        ("GET", f"/api/v1/invoices/{invoice.uuid}/pdf/"),
        ("POST", f"/api/v1/invoices/{invoice.uuid}/pay/"),
        ("GET", "/api/v1/invoices/00000000-0000-4000-8000-000000000001/"),
    ):
        response = client.open(url, method=method, headers=headers)
        assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    assert counts() == (1, 1, 0)


def test_a_draft_cannot_be_paid_or_voided_and_an_unknown_one_is_not_found(
    client, admin, student, bearer
):
    invoice = services.create_invoice(
        user_id=student.id, currency="usd", lines=[Line("Course book", 1, 3000)], kind="manual"
    )
    db.session.commit()
    void = client.post(f"/api/v1/admin/invoices/{invoice.uuid}/void/", headers=bearer(admin))
    assert void.status_code == 409 and "draft" in void.json["error"]["message"]
    # The student cannot see a draft, so cannot pay it.
    pay = client.post(f"/api/v1/invoices/{invoice.uuid}/pay/", headers=bearer(student))
    assert pay.status_code == 404
    missing = "/api/v1/admin/invoices/00000000-0000-4000-8000-000000000001/finalize/"
    assert client.post(missing, headers=bearer(admin)).status_code == 404
    assert counts() == (1, 1, 0)


@pytest.mark.parametrize(
    ("lines", "discount"),
    [
        ([Line("Course book", 1, 0)], 0),
        ([Line("Course book", 0, 100)], 0),
        ([Line("", 1, 100)], 0),
        ([Line("Course book", 1, 100)], 101),
        ([], 0),
    ],
)
def test_the_draft_service_refuses_what_the_api_refuses(student, lines, discount):
    from portal.errors import ValidationError

    with pytest.raises(ValidationError):
        services.draft_manual_invoice(student_id=student.id, lines=lines, discount=discount)
    db.session.rollback()
    assert counts() == (0, 0, 0)


@pytest.mark.parametrize(
    "body", [{"payment_method_id": "7"}, {"payment_method_id": 0}, {"amount": 3000}]
)
def test_a_bad_payment_body_is_refused_before_anything_is_written(client, student, bearer, body):
    invoice = services.create_invoice(
        user_id=student.id, currency="usd", lines=[Line("Course book", 1, 3000)], kind="manual"
    )
    services.finalize_invoice(invoice)
    db.session.commit()
    url = f"/api/v1/invoices/{invoice.uuid}/pay/"
    response = client.post(url, json=body, headers=bearer(student))
    assert response.status_code == 400 and response.json["error"]["code"] == "invalid"
    assert set(response.json["error"]["fields"]) == set(body)
    assert counts() == (1, 1, 0)


def test_the_pdfs_are_described_as_pdf_downloads(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/invoices/{invoice_id}/pdf/",
                 "/api/v1/invoices/{invoice_id}/credit-notes/{note_id}/pdf/"):  # fmt: skip
        assert set(paths[path]["get"]["responses"]["200"]["content"]) == {"application/pdf"}


def test_a_drafts_pdf_is_the_documented_409(client, admin, student, bearer):
    invoice = services.create_invoice(
        user_id=student.id, currency="usd", lines=[Line("Course book", 1, 3000)], kind="manual"
    )
    db.session.commit()
    response = client.get(f"/api/v1/invoices/{invoice.uuid}/pdf/", headers=bearer(admin))
    assert response.status_code == 409
    assert response.json["error"]["code"] == "invalid_transition"
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert "409" in paths["/api/v1/invoices/{invoice_id}/pdf/"]["get"]["responses"]
