"""Query strings as the document states them and the server reads them: free text is one
line (a control character is a 400 before any view runs), and a parameter sent empty is one
left out. Each rule was found by fuzzing the live API against its document
(scripts/contract-check.sh)."""

from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from portal.contract.document import LINE_PATTERN
from portal.input import _LINE_CONTROL


@pytest.fixture
def document(client):
    return client.get("/api/v1/openapi.json").json


def _query_parameters(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    yield f"{method.upper()} {path}", parameter


def test_every_free_text_query_parameter_is_one_line(document):
    texts = [
        (name, parameter)
        for name, parameter in _query_parameters(document)
        if parameter["schema"].get("type") == "string"
        and not {"enum", "format", "const"} & parameter["schema"].keys()
    ]
    assert texts
    for name, parameter in texts:
        assert parameter["schema"].get("pattern") == LINE_PATTERN, (name, parameter["name"])


def test_the_documented_line_pattern_is_the_input_layers_rule():
    pattern = re.compile(LINE_PATTERN)
    for code in range(0x100):
        text = f"a{chr(code)}b"
        assert (pattern.fullmatch(text) is None) == bool(_LINE_CONTROL.search(text)), hex(code)


def test_a_control_character_in_a_filter_is_refused_as_documented(client, bearer, admin, document):
    (tutor,) = [
        p
        for name, p in _query_parameters(document)
        if name == "GET /api/v1/admin/payouts/" and p["name"] == "tutor"
    ]
    assert re.fullmatch(tutor["schema"]["pattern"], "A\x1dB") is None
    response = client.get("/api/v1/admin/payouts/?tutor=A%1DB", headers=bearer(admin))
    assert response.status_code == 400
    assert "tutor" in response.json["error"]["fields"]
    assert client.get("/api/v1/admin/payouts/?tutor=Ana", headers=bearer(admin)).status_code == 200


def test_every_optional_query_parameter_may_be_sent_empty(document):
    for name, parameter in _query_parameters(document):
        assert parameter.get("required") or parameter.get("allowEmptyValue"), (
            name,
            parameter["name"],
        )


@pytest.mark.parametrize("path", ["/api/v1/wallet/transactions/", "/api/v1/wallet/analytics/"])
def test_a_query_parameter_sent_empty_is_one_left_out(client, bearer, tutor, document, path):
    headers = bearer(tutor)
    names = [p["name"] for p in document["paths"][path]["get"]["parameters"]]
    empty = client.get(f"{path}?{'&'.join(f'{name}=' for name in names)}", headers=headers)
    assert empty.status_code == 200
    assert empty.json == client.get(path, headers=headers).json


@pytest.mark.parametrize(
    "day, valid",
    [("2026-01-31", True), ("1970-01-01", True), ("2999-12-31", True),
     ("1969-12-31", False), ("3000-01-01", False), ("0001-01-01", False),
     ("20260131", False), ("2026-W05-1", False), (" 2026-01-31", False),
     ("2026-1-31", False), ("2026-02-30", False), ("2026-13-01", False)],
)  # fmt: skip
def test_a_day_filter_takes_what_the_document_says(client, bearer, tutor, document, day, valid):
    (to,) = [
        p
        for name, p in _query_parameters(document)
        if name == "GET /api/v1/wallet/transactions/" and p["name"] == "to"
    ]
    checker = Draft202012Validator(to["schema"], format_checker=FormatChecker())
    assert checker.is_valid(day) == valid
    response = client.get(
        "/api/v1/wallet/transactions/", query_string={"to": day}, headers=bearer(tutor)
    )
    assert response.status_code == (200 if valid else 400)
