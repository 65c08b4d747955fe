"""The OpenAPI document at /api/v1/openapi.json: valid OpenAPI 3.1, every API route in it,
and every operation with its summary, security, error answers, headers and examples."""

from __future__ import annotations

import json
import re
from importlib import import_module

import pytest
from openapi_spec_validator import validate

from portal import BLUEPRINT_MODULES
from portal.contract.schemas import RequestBody
from portal.contract.spec import _names as schemas_by_name

# Blueprints whose operations are not described yet; each leaves this list when its
# module declares its schemas.
NOT_YET_DESCRIBED = {}
# The operations that create money: their POSTs take an Idempotency-Key.
MONEY_POSTS = {
    "/api/v1/payments/intent/",
    "/api/v1/payments/{payment_id}/confirm/",
    "/api/v1/payments/{payment_id}/refund/",
    "/api/v1/payouts/",
    "/api/v1/admin/wallets/{tutor_id}/adjustments/",
    "/api/v1/subscriptions/",
    "/api/v1/subscriptions/change/",
    "/api/v1/admin/invoices/",
    "/api/v1/admin/invoices/{invoice_id}/finalize/",
    "/api/v1/invoices/{invoice_id}/pay/",
}
UNDOCUMENTED = {"contract.openapi_json"}

for module in BLUEPRINT_MODULES:  # every schema is named once its module is imported
    import_module(module)


@pytest.fixture
def document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.json


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_api_route_is_described(app, document):
    missing = []
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.split(".")[0]
        if not rule.rule.startswith("/api/v1/") or rule.endpoint in UNDOCUMENTED:
            continue
        if blueprint in NOT_YET_DESCRIBED:
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if method.lower() not in document["paths"].get(path, {}):
                missing.append(f"{method} {path}")
    assert missing == []


def test_each_operation_has_a_summary_security_and_unique_id(document):
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids))
    for path, method, operation in _operations(document):
        assert operation["summary"] and "<" not in operation["summary"], (method, path)
        assert "security" in operation, (method, path)
        schemes = {name for option in operation["security"] for name in option}
        assert schemes <= set(document["components"]["securitySchemes"])


def test_session_calls_that_change_something_need_the_csrf_header(document):
    for path, method, operation in _operations(document):
        for option in operation["security"]:
            if "sessionCookie" in option:
                assert ("csrfToken" in option) == (method != "get"), (method, path)


def test_errors_are_in_the_one_error_shape_with_examples(document):
    """Every error the API answers; the 414 comes from the HTTP server in front of it
    (tests/contract/test_http_answers.py holds that answer to its own words)."""
    for path, _method, operation in _operations(document):
        for status, answer in operation["responses"].items():
            if int(status) < 400 or status == "414":
                continue
            media = answer["content"]["application/json"]
            assert media["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)
            assert media["example"]["error"]["code"]


def test_rate_limits_are_described_on_every_answer(document):
    for path, method, operation in _operations(document):
        if operation.get("security") == [{"stripeSignature": []}]:
            continue
        answers = operation["responses"]
        assert "Retry-After" in answers["429"]["headers"], (method, path)
        for status, answer in answers.items():
            if status.startswith("2"):
                assert set(answer["headers"]) == {
                    "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"
                }, (method, path, status)  # fmt: skip


def test_posts_that_create_money_take_an_idempotency_key(document):
    for path, method, operation in _operations(document):
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        money = method == "post" and path in MONEY_POSTS
        assert ("Idempotency-Key" in headers) == money, (method, path)


def test_bodies_and_answers_carry_examples(document):
    for path, method, operation in _operations(document):
        contents = [operation.get("requestBody", {}).get("content", {})]
        contents += [a.get("content", {}) for s, a in operation["responses"].items() if s < "300"]
        for content in contents:
            for media_type, media in content.items():
                # A download (a PDF) is bytes: it has no example.
                assert "example" in media or media_type != "application/json", (method, path)


@pytest.mark.parametrize("name", sorted(schemas_by_name))
def test_every_schema_example_is_valid(name):
    model = schemas_by_name[name]
    schema = model.model_json_schema()
    for example in schema.get("examples", []):
        if isinstance(model, type) and issubclass(model, RequestBody):
            model.model_validate_json(json.dumps(example))
        else:
            model.model_validate(example)


def test_the_checked_in_copy_is_the_live_document(client):
    from portal.contract.document import DOCUMENT_PATH

    live = client.get("/api/v1/openapi.json").get_data(as_text=True)
    assert DOCUMENT_PATH.read_text() == live, (
        "The API contract changed: run `make openapi` and commit docs/openapi.json."
    )
