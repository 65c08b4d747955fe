"""The payout settings' shapes as the document states them (patterns) and as the
destinations service checks them: what the service takes matches its pattern, and where
nothing but the shape is checked, what matches is taken. A Stripe account id of the wrong
shape passed the schema and was refused; found by fuzzing the live API against its
document (scripts/contract-check.sh)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.payouts import destinations
from portal.payouts.schemas import SettingsRequest

ALPHABET = " \t\n\r\xa0\u2003-_acctACDEUSxyzé0123456789"
SAMPLES = {
    "bank_account_holder": ["Ana Lima", "A", " A ", "A B", "  ", "Jo"],
    "bank_country": ["DE", " us ", "D", "DEU", "12", "zz"],
    "bank_account_number": ["000123456789", "0001 2345-6789", "123", "12a45", " 1-2-3-4 "],
    "bank_routing_number": ["011000015", " 011000015\t", "011 000 015", "01100001", "011000016"],
    "stripe_account_id": ["acct_1Nv0FGQ9RKHgCVdK", " acct_1Nv0FGQ9RKHgCVdK ", "acct_", ""],
}
# Past its shape the service checks more: a country it knows, a routing number's check digit.
SHAPE_ONLY = {"bank_account_holder", "bank_name", "bank_account_number", "stripe_account_id"}


def _pattern(field: str) -> re.Pattern:
    schema = SettingsRequest.model_json_schema()["properties"][field]
    (string,) = [option for option in schema["anyOf"] if option.get("type") == "string"]
    # Read as JSON Schema reads it (ECMA-262): `$` is the end of the text, where Python's
    # also matches before a final line feed.
    return re.compile(string["pattern"].replace("$", r"\Z"))


def _taken(field: str, value: str) -> bool:
    errors: dict = {}
    if field == "stripe_account_id":
        destinations._stripe_account(value, errors)
    else:
        destinations._CLEAN[field](value, field, errors)
    return not errors


def _agree(field: str, value: str) -> None:
    matches = _pattern(field).search(value) is not None
    if field in SHAPE_ONLY:
        assert matches == _taken(field, value), (field, value)
    elif _taken(field, value):
        assert matches, (field, value)


@pytest.mark.parametrize("field", [*SAMPLES, "bank_name"])
def test_each_documented_shape_is_the_services(field):
    for value in SAMPLES.get(field, SAMPLES["bank_account_holder"]):
        _agree(field, value)


@pytest.mark.parametrize("field", [*SAMPLES, "bank_name"])
@settings(max_examples=300, deadline=None)
@given(value=st.text(alphabet=ALPHABET, max_size=24))
def test_the_shapes_agree_on_any_text(field, value):
    _agree(field, value)


def test_a_stripe_account_id_of_the_wrong_shape_is_refused_as_documented(client, bearer, tutor):
    body = {"stripe_account_id": "0" * 63}
    assert _pattern("stripe_account_id").search(body["stripe_account_id"]) is None
    response = client.patch("/api/v1/wallet/settings/", json=body, headers=bearer(tutor))
    assert response.status_code == 400
    assert "stripe_account_id" in response.json["error"]["fields"]
