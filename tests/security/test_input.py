"""One input layer: control characters, over-deep or over-large JSON and non-JSON bodies
are refused before any view runs, on every JSON endpoint, in the API's error shape, and
nothing is written. Plus the odd inputs that once were 500s."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
import sqlalchemy as sa

from portal.accounts.models import User
from portal.extensions import db

SAMPLE = {"int": "1", "uuid": str(uuid.uuid4()), "default": "x"}


def _json_endpoints(app) -> list[tuple[str, str]]:
    """Every /api/ rule that takes a body, with its arguments filled in."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.endpoint == "webhooks_api.stripe":
            continue
        view = app.view_functions[rule.endpoint]
        if getattr(view, "_raw_body", False):
            continue
        values = {}
        for name in rule.arguments:
            converter = type(rule._converters[name]).__name__.lower()
            kind = "uuid" if "uuid" in converter else "int" if "id" in converter else "default"
            values[name] = SAMPLE[kind]
        path = rule.build(values, append_unknown=False)[1]
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH"}):
            found.append((method, path))
    return found


# The server-side session store keeps a visitor's CSRF token: not a change of anything.
SESSION_STORE = "sessions"


def _row_counts() -> dict[str, int]:
    return {
        table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
        for table in db.metadata.sorted_tables
        if table.name != SESSION_STORE
    }


def _deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


BODIES = {
    "nul": (json.dumps({"reason": "a\x00b", "amount": 1000, "name": "x\x00"}), "application/json"),
    "control": (json.dumps({"reason": "a\x1bb"}), "application/json"),
    "deep": (_deep(40), "application/json"),
    "very deep": ("[" * 60_000 + "]" * 60_000, "application/json"),
    "form": ("amount=1000&reason=x", "application/x-www-form-urlencoded"),
    "text": ("amount=1000", "text/plain"),
    "huge": (json.dumps({"reason": "x" * 200_000}), "application/json"),
    "not json": ('{"amount": ', "application/json"),
}
EXPECTED = {
    "nul": 400,
    "control": 400,
    "deep": 400,
    "very deep": 413,
    "form": 415,
    "text": 415,
    "huge": 413,
    "not json": 400,
}


def test_every_json_endpoint_is_covered(app):
    endpoints = _json_endpoints(app)
    assert len(endpoints) >= 15
    assert ("POST", "/api/v1/payouts/") in endpoints


@pytest.mark.parametrize("probe", sorted(BODIES))
def test_every_json_endpoint_refuses_odd_bodies(app, client, bearer, admin, tutor, student, probe):
    body, content_type = BODIES[probe]
    tokens = {role: bearer(user) for role, user in (("admin", admin), ("tutor", tutor),
                                                      ("student", student))}  # fmt: skip
    before = _row_counts()
    for method, path in _json_endpoints(app):
        for headers in tokens.values():
            response = client.open(
                path, method=method, data=body, headers={**headers, "Content-Type": content_type}
            )
            assert response.status_code == EXPECTED[probe], (method, path, response.status_code)
            error = response.get_json()["error"]
            assert error["code"] and error["message"]
    db.session.expire_all()
    after = _row_counts()
    # Only the bearer tokens' last use may be touched; no row is added anywhere.
    assert after == before


def test_a_session_call_with_a_form_body_is_415_not_ignored(login, tutor):
    browser = login(tutor)
    response = browser.client.post(
        "/api/v1/payouts/",
        data={"amount": "1000", "payout_method": "bank_transfer"},
        headers={"X-CSRFToken": browser.csrf},
    )
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "who, path, data",
    [
        ("anon", "/signup", {"name": "A\x00na", "email": "ana@example.com",
                             "password": "long-enough-pw", "role": "student"}),
        ("anon", "/signin", {"email": "a\x00@example.com", "password": "x"}),
        ("tutor", "/payouts", {"amount": "10.00\x00", "payout_method": "bank_transfer"}),
        ("tutor", "/payouts/settings/bank", {"bank_account_holder": "T\x00",
                                              "bank_iban": "DE89370400440532013000"}),
    ],
)  # fmt: skip
def test_a_nul_in_a_form_field_is_400_and_writes_nothing(login, anon, tutor, who, path, data):
    browser = anon if who == "anon" else login(tutor)
    before = _row_counts()
    response = browser.post(path, data)
    assert response.status_code == 400
    assert "control character" in response.get_data(as_text=True)
    db.session.expire_all()
    assert _row_counts() == before


def test_tab_and_newline_pass_in_a_body_but_not_in_a_query_string(app):
    """A reason may span lines; a filter is one line."""
    from werkzeug.exceptions import BadRequest

    from portal.input import check_input

    with app.test_request_context("/admin/payouts", method="POST",
                                  data={"reason": "one\r\ntwo\tthree"}):  # fmt: skip
        check_input()
    with app.test_request_context("/admin/payouts?tutor=a%0Ab"), pytest.raises(BadRequest):
        check_input()


@pytest.mark.parametrize("raw", ["%20", "+", "1.5", "%C2%B2", "-1", "0x10", "99999999999999999999"])
def test_integer_filters_refuse_blank_and_odd_values(client, bearer, student, raw):
    response = client.get(f"/api/v1/payments/?page={raw}", headers=bearer(student))
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"]["page"]


def test_int_filter_parses_in_one_place(app):
    from werkzeug.datastructures import MultiDict

    from portal.errors import ValidationError
    from portal.input import int_filter

    assert int_filter(MultiDict({"tutor": "42"}), "tutor") == 42
    assert int_filter(MultiDict({"tutor": ""}), "tutor") is None
    assert int_filter(MultiDict(), "tutor") is None
    for raw in (" ", " 4", "4 ", "²", "4e2", "--1"):
        with pytest.raises(ValidationError):
            int_filter(MultiDict({"tutor": raw}), "tutor")


@pytest.mark.postgres
def test_ten_signups_with_one_email_at_once_make_one_account(app, postgres):
    """Nine lose the unique-key race and get the ordinary "already exists" form error."""
    barrier = threading.Barrier(10)
    statuses: list[int] = []
    bodies: list[str] = []

    def sign_up() -> None:
        from tests.conftest import Session

        browser = Session(app.test_client())
        csrf = browser.csrf
        barrier.wait()
        response = browser.client.post(
            "/signup",
            data={"csrf_token": csrf, "name": "Ana", "email": "race@example.com",
                  "password": "long-enough-pw", "role": "student"},
        )  # fmt: skip
        statuses.append(response.status_code)
        bodies.append(response.get_data(as_text=True))

    threads = [threading.Thread(target=sign_up) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [302] + [422] * 9
    assert sum("An account with this email already exists." in b for b in bodies) == 9
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
