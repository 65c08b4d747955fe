"""Rules no schema can state (a lesson in the future, a row that must exist, a setting):
the operations that keep them say so in the document, and the contract check accepts
their 400 for a request of the right shape, for those operations only
(scripts/schemathesis.toml). Found by fuzzing the live API against its document
(scripts/contract-check.sh)."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

SETTINGS = Path(__file__).resolve().parents[2] / "scripts" / "schemathesis.toml"
RULES = "Refused with 400 though the schema takes it"


@pytest.fixture
def document(client):
    return client.get("/api/v1/openapi.json").json


def _accepting_400() -> set[str]:
    found = set()
    for operation in tomllib.loads(SETTINGS.read_text())["operations"]:
        checks = operation.get("checks", {}).get("positive_data_acceptance", {})
        if "400" in checks.get("expected-statuses", []):
            found.add(operation["include-name"])
    return found


def test_the_check_accepts_a_400_only_where_the_document_names_the_rule(document):
    ruled = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if RULES in operation.get("description", "")
    }
    assert ruled
    assert _accepting_400() == ruled
    for name in ruled:
        method, path = name.split(" ")
        answer = document["paths"][path][method.lower()]["responses"]["400"]
        assert "no schema states" in answer["description"]


def test_a_lesson_in_the_past_is_of_the_right_shape_and_refused(
    document, client, bearer, student, tutor
):
    body = {"tutor_id": tutor.id, "starts_at": "2000-01-01T00:00:00Z", "duration_minutes": 60}
    schema = document["components"]["schemas"]["BookingRequest"]
    assert Draft202012Validator(schema).is_valid(body)
    response = client.post("/api/v1/bookings/", json=body, headers=bearer(student))
    assert response.status_code == 400 and "starts_at" in response.json["error"]["fields"]
    body["starts_at"] = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    assert client.post("/api/v1/bookings/", json=body, headers=bearer(student)).status_code == 201
