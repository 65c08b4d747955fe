"""Rules the server keeps that the OpenAPI document states too, so a client (or a fuzzer)
generating requests from the document sends what the server takes: no control characters
in a request's strings, text that must say something, the Idempotency-Key's form, a saved
card or a new one, a plan named once."""

from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator

from portal.contract.document import TEXT_PATTERN
from portal.contract.schemas import SAID_PATTERN
from portal.errors import ValidationError
from portal.input import _TEXT_CONTROL
from portal.validation import check_request_key


@pytest.fixture
def document(client):
    return client.get("/api/v1/openapi.json").json


def _strings(schema: dict, components: dict, seen: set):
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        if name not in seen:
            seen.add(name)
            yield from _strings(components[name], components, seen)
        return
    if schema.get("type") == "string":
        yield schema
    for part in [*schema.get("anyOf", []), *schema.get("properties", {}).values()]:
        yield from _strings(part, components, seen)
    if isinstance(schema.get("items"), dict):
        yield from _strings(schema["items"], components, seen)


def test_every_string_of_a_request_body_refuses_control_characters(document):
    components = document["components"]["schemas"]
    found = 0
    for item in document["paths"].values():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is None or operation.get("security") == [{"stripeSignature": []}]:
                continue
            for string in _strings(body["schema"], components, set()):
                found += 1
                assert "pattern" in string or "enum" in string or "format" in string, (
                    method,
                    string,
                )
    assert found


def test_the_documented_pattern_is_the_input_layers_rule():
    pattern = re.compile(TEXT_PATTERN)
    for code in range(0x100):
        text = f"a{chr(code)}b"
        assert (pattern.fullmatch(text) is None) == bool(_TEXT_CONTROL.search(text)), hex(code)


@pytest.mark.parametrize(
    "key", ["9f1c0d52-3c1e-4f0e-9a55-0d0f5b8f9a10", "short", "x" * 65, "with space 12", "a_b-C_9!"]
)
def test_the_documented_idempotency_key_is_the_one_the_server_takes(document, key):
    parameters = document["paths"]["/api/v1/payments/intent/"]["post"]["parameters"]
    (header,) = [p for p in parameters if p["name"] == "Idempotency-Key"]
    documented = re.fullmatch(header["schema"]["pattern"], key) is not None
    try:
        check_request_key(key)
        taken = True
    except ValidationError:
        taken = False
    assert documented == taken


@pytest.mark.parametrize(
    "body, valid",
    [
        ({"payment_method_id": 7, "provider_method_id": "pm_1"}, False),
        ({"payment_method_id": 7, "provider_method_id": None}, True),
        ({"provider_method_id": "pm_1"}, True),
        ({}, True),
    ],
)
def test_a_confirmation_names_a_saved_card_or_a_new_one_not_both(
    document, client, bearer, student, body, valid
):
    schema = document["components"]["schemas"]["ConfirmRequest"]
    assert Draft202012Validator(schema).is_valid(body) == valid
    response = client.post(
        "/api/v1/payments/3f6c1a9e-8d4b-4a51-9d0e-2b7f5c1e4a10/confirm/",
        json=body,
        headers=bearer(student),
    )
    assert response.status_code == (404 if valid else 400)


@pytest.mark.parametrize(
    "body, valid",
    [
        ({"plan_id": 999}, True),
        ({"plan": "no-such-plan"}, True),
        ({"plan": None}, False),
        ({"plan_id": None}, False),
        ({"plan_id": None, "plan": "no-such-plan"}, False),
        ({"plan_id": 999, "plan": "no-such-plan"}, False),
        ({}, False),
    ],
)
@pytest.mark.parametrize(
    "path, schema", [("/", "SubscribeRequest"), ("/change/", "ChangePlanRequest")]
)
def test_a_plan_is_named_once_by_id_or_slug_never_null(
    document, client, bearer, student, path, schema, body, valid
):
    validator = Draft202012Validator(document["components"]["schemas"][schema])
    assert validator.is_valid(body) == valid
    response = client.post(f"/api/v1/subscriptions{path}", json=body, headers=bearer(student))
    # A plan named well that does not exist is the documented 404.
    assert response.status_code == (404 if valid else 400)


def test_the_documented_said_pattern_is_what_a_stripping_service_takes():
    pattern = re.compile(SAID_PATTERN)
    for code in [*range(0x100), 0x1680, *range(0x2000, 0x2010), 0x2028, 0x3000, 0xFEFF]:
        if _TEXT_CONTROL.search(chr(code)):
            continue
        text = f" {chr(code)}\t"
        assert (pattern.fullmatch(text) is not None) == bool(text.strip()), hex(code)
    assert pattern.fullmatch("said\x01") is None


@pytest.mark.parametrize("reason", ["", "   ", "\t\n", "\u00a0"])
def test_a_blank_reason_is_refused_as_documented(document, client, bearer, admin, tutor, reason):
    schema = document["components"]["schemas"]["AdjustmentRequest"]
    body = {"amount": 500, "reason": reason}
    assert not Draft202012Validator(schema).is_valid(body)
    response = client.post(
        f"/api/v1/admin/wallets/{tutor.id}/adjustments/", json=body, headers=bearer(admin)
    )
    assert response.status_code == 400 and "reason" in response.json["error"]["fields"]
    body["reason"] = " Goodwill "
    assert Draft202012Validator(schema).is_valid(body)
    response = client.post(
        f"/api/v1/admin/wallets/{tutor.id}/adjustments/", json=body, headers=bearer(admin)
    )
    assert response.status_code == 201


def test_an_adjustment_of_zero_is_refused_as_documented(document, client, bearer, admin, tutor):
    schema = document["components"]["schemas"]["AdjustmentRequest"]
    body = {"amount": 0, "reason": "Nothing"}
    assert not Draft202012Validator(schema).is_valid(body)
    response = client.post(
        f"/api/v1/admin/wallets/{tutor.id}/adjustments/", json=body, headers=bearer(admin)
    )
    assert response.status_code == 400 and "amount" in response.json["error"]["fields"]


def test_a_body_that_must_name_a_field_is_required(document, client, bearer, student):
    for path in ("/api/v1/subscriptions/", "/api/v1/subscriptions/change/"):
        assert document["paths"][path]["post"]["requestBody"]["required"] is True
        assert client.post(path, headers=bearer(student)).status_code == 400
    # A body whose fields all have defaults may be left out.
    cancel = "/api/v1/subscriptions/cancel/"
    assert document["paths"][cancel]["post"]["requestBody"]["required"] is False
