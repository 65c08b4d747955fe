"""Requests are checked against their schemas before a view runs: the wrong JSON type, an
unknown field, a value out of range or an odd body is the API's 400 (or 413/415) in the
one error shape, never a 500, and nothing is written."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

from portal.contract.schemas import ErrorBody
from portal.contract.spec import whole_numbers
from portal.extensions import db
from portal.payments.models import Payment

PAYMENT = f"/api/v1/payments/{uuid.uuid4()}"


@pytest.mark.parametrize(
    "path, body, field, message",
    [
        ("/api/v1/payments/intent/", {"booking_id": True}, "booking_id", "Must be an integer."),
        ("/api/v1/payments/intent/", {"booking_id": 1.5}, "booking_id", "Must be an integer."),
        ("/api/v1/payments/intent/", {"booking_id": "1"}, "booking_id", "Must be an integer."),
        ("/api/v1/payments/intent/", {"booking_id": 0}, "booking_id", None),
        ("/api/v1/payments/intent/", {"booking_id": 2**70}, "booking_id", None),
        ("/api/v1/payments/intent/", {"booking_id": 2**31}, "booking_id", None),
        ("/api/v1/payments/intent/", {}, "booking_id", "This field is required."),
        ("/api/v1/payments/intent/", {"booking_id": 1, "tip": 5}, "tip", "Unknown field."),
        ("/api/v1/payments/intent/", {"booking_id": 1, "currency": 7}, "currency", None),
        (f"{PAYMENT}/refund/", {"amount": 500.25}, "amount", "Must be an integer."),
        (f"{PAYMENT}/refund/", {"amount": 5e-1}, "amount", "Must be an integer."),
        (f"{PAYMENT}/refund/", {"amount": "500"}, "amount", "Must be an integer."),
        (f"{PAYMENT}/refund/", {"amount": False}, "amount", "Must be an integer."),
        (f"{PAYMENT}/refund/", {"amount": -5}, "amount", None),
        (f"{PAYMENT}/refund/", {"reason": "x" * 501}, "reason", None),
        (f"{PAYMENT}/refund/", {"reason": ["late"]}, "reason", "Must be a string."),
        (f"{PAYMENT}/confirm/", {"payment_method_id": "7"}, "payment_method_id", None),
        ("/api/v1/payments/methods/", {"provider_method_id": ""}, "provider_method_id", None),
        ("/api/v1/payments/methods/", {"provider_method_id": "pm_1", "make_default": 1},
         "make_default", "Must be true or false."),
    ],
)  # fmt: skip
def test_wrong_types_and_unknown_fields_are_400_naming_the_field(
    client, bearer, student, path, body, field, message
):
    response = client.post(path, json=body, headers=bearer(student))
    assert response.status_code == 400, response.json
    error = ErrorBody.model_validate(response.json).error
    assert error.code == "invalid" and field in error.fields and field in error.message
    if message:
        assert error.fields[field] == [message]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 0


@pytest.mark.parametrize(
    "body, field",
    [('{"booking_id": 7.0}', "booking_id"), ('{"booking_id": 7e0}', "booking_id"),
     ('{"amount": 5.0E2, "reason": "7.5"}', "amount")],
)  # fmt: skip
def test_a_whole_number_written_with_a_point_is_the_integer(client, bearer, student, body, field):
    # JSON Schema counts 7.0 as the integer 7, and so does the document: the call gets past
    # validation to the view, which finds no such lesson or payment.
    path = "/api/v1/payments/intent/" if field == "booking_id" else f"{PAYMENT}/refund/"
    response = client.post(
        path, data=body, headers={**bearer(student), "Content-Type": "application/json"}
    )
    assert response.status_code == 404, response.json


def test_whole_numbers_are_read_from_their_digits():
    assert whole_numbers(b'{"a": 9007199254740993.0}') == b'{"a": 9007199254740993}'
    assert whole_numbers(b'{"a": -0.0, "b": [2.50, "3.0"]}') == b'{"a": 0, "b": [2.5, "3.0"]}'
    assert whole_numbers(b'{"a": 1e999999999}') == b'{"a": Infinity}'  # refused as no integer
    assert whole_numbers(b'{"a": 12}') == b'{"a": 12}'
    assert whole_numbers(b'{"a": 1.0') == b'{"a": 1.0'


@pytest.mark.parametrize("body", ["[1]", '"x"', "42", "true"])
def test_a_body_that_is_no_object_is_400(client, bearer, student, body):
    response = client.post(
        "/api/v1/payments/intent/",
        data=body,
        headers={**bearer(student), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json["error"]["message"] == "The request body must be a JSON object."


@pytest.mark.parametrize(
    "data, content_type, status",
    [
        (json.dumps({"booking_id": 1, "currency": "us\x00d"}), "application/json", 400),
        ('{"booking_id":' * 50 + "1" + "}" * 50, "application/json", 400),
        ("booking_id=1", "application/x-www-form-urlencoded", 415),
        ('{"booking_id": 1', "application/json", 400),
    ],
)
def test_odd_bodies_are_refused_cleanly(client, bearer, student, data, content_type, status):
    response = client.post(
        "/api/v1/payments/intent/",
        data=data,
        headers={**bearer(student), "Content-Type": content_type},
    )
    assert response.status_code == status
    ErrorBody.model_validate(response.json)


@pytest.mark.parametrize("raw", ["nope", "%00", "PENDING", "1"])
def test_a_filter_outside_its_values_is_400(client, bearer, student, raw):
    response = client.get(f"/api/v1/payments/?status={raw}", headers=bearer(student))
    assert response.status_code == 400 and response.json["error"]["fields"]["status"]


def test_an_empty_filter_is_no_filter(client, bearer, student):
    response = client.get("/api/v1/payments/?status=&page=", headers=bearer(student))
    assert response.status_code == 200 and response.json["count"] == 0


def test_the_role_is_checked_before_the_body(client, bearer, tutor):
    response = client.post("/api/v1/payments/intent/", json={"x": 1}, headers=bearer(tutor))
    assert response.status_code == 403
    assert client.get("/api/v1/payments/?status=nope").status_code == 401


def test_an_answer_that_breaks_its_schema_fails_in_tests_and_is_sent_in_production(app):
    from spectree import Response

    from portal.contract.schemas import Answer
    from portal.contract.spec import AnswerContractError, api_spec

    class Figure(Answer):
        amount: int

    answers = Response(HTTP_200=Figure)
    answers.bind_model_adapter(api_spec.model_adapter)
    plugin = api_spec.backend
    with app.test_request_context("/api/v1/figure"):
        with pytest.raises(AnswerContractError):
            plugin.validate_response(({"amount": "many"}, 200), answers, False, False)
        app.testing = False
        try:
            sent, error = plugin.validate_response(({"amount": "many"}, 200), answers, False, False)
        finally:
            app.testing = True
    assert error is None and sent.status_code == 200 and sent.json == {"amount": "many"}


def test_a_field_inside_a_list_item_is_named_by_its_own_name_and_the_message_says_where():
    from pydantic import StrictInt
    from pydantic import ValidationError as Refused

    from portal.contract.schemas import RequestBody
    from portal.contract.spec import _refuse_invalid
    from portal.errors import ValidationError

    class Line(RequestBody):
        quantity: StrictInt

    class Lines(RequestBody):
        items: list[Line]

    body = '{"items": [{"quantity": 1}, {"quantity": "2"}, {"quantity": 1.5, "colour": "red"}]}'
    with pytest.raises(Refused) as refused:
        Lines.model_validate_json(body)
    with pytest.raises(ValidationError) as raised:
        _refuse_invalid(None, None, refused.value, None, None)
    assert raised.value.fields == {
        "quantity": ["Must be an integer."],
        "colour": ["Unknown field."],
    }
    assert raised.value.message == (
        "items.1.quantity: Must be an integer. items.2.quantity: Must be an integer. "
        "items.2.colour: Unknown field."
    )
