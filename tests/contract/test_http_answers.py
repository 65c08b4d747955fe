"""What the API answers around its operations, as its document says: a method the URL does
not take, a call from nobody signed in, an id no INTEGER column holds. Each was found by
fuzzing the live API against its document (scripts/contract-check.sh)."""

from __future__ import annotations

import runpy
import uuid

import pytest
from gunicorn.config import Config
from gunicorn.http.errors import LimitRequestLine
from gunicorn.http.parser import RequestParser

from portal.config import ROOT
from portal.contract.document import REQUEST_LINE_LIMIT, URI_TOO_LONG
from portal.contract.schemas import ErrorBody
from portal.db import MAX_ID


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("TRACE", "/api/v1/payments/", {"GET"}),
        ("PUT", "/api/v1/payments/intent/", {"POST"}),
        ("GET", f"/api/v1/payments/{uuid.uuid4()}/refund/", {"POST"}),
        ("POST", "/api/v1/payments/methods/7/", {"DELETE"}),
    ],
)
def test_a_method_the_url_does_not_take_is_405_naming_those_it_does(
    client, bearer, student, method, path, allowed
):
    response = client.open(path, method=method, headers=bearer(student))
    assert response.status_code == 405
    assert ErrorBody.model_validate(response.json).error.code == "method_not_allowed"
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}


@pytest.mark.parametrize(
    "path",
    ["/api/v1/payments/methods/setup/", "/api/v1/payments/intent/", "/api/v1/payments/methods/"],
)
def test_a_call_from_nobody_signed_in_is_401_not_a_csrf_refusal(client, path):
    response = client.post(path)
    assert response.status_code == 401
    assert ErrorBody.model_validate(response.json).error.code == "not_authenticated"


def test_a_signed_in_session_still_needs_its_csrf_token(login, student):
    browser = login(student)
    response = browser.client.post("/api/v1/payments/methods/setup/")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "csrf_failed"


@pytest.mark.parametrize(
    "method, path",
    [
        ("PATCH", f"/api/v1/payments/methods/{MAX_ID + 1}/default/"),
        ("DELETE", f"/api/v1/payments/methods/{2**40}/"),
    ],
)
def test_an_id_past_what_an_integer_column_holds_is_no_row(client, bearer, student, method, path):
    # On PostgreSQL such an id used to reach the database, which refused it: a 500.
    response = client.open(path, method=method, headers=bearer(student))
    assert response.status_code == 404


def test_the_document_bounds_path_ids_by_what_an_integer_column_holds(client):
    document = client.get("/api/v1/openapi.json").json
    (parameter,) = document["paths"]["/api/v1/payments/methods/{method_id}/"]["delete"][
        "parameters"
    ]
    assert parameter["schema"]["maximum"] == MAX_ID == 2**31 - 1


def test_an_operation_open_to_anybody_refuses_a_bad_token_as_documented(client):
    path = "/api/v1/subscriptions/plans/"
    assert client.get(path).status_code == 200
    response = client.get(path, headers={"Authorization": "Bearer m4sh_not-a-token"})
    assert response.status_code == 401
    assert ErrorBody.model_validate(response.json).error.code == "not_authenticated"
    operation = client.get("/api/v1/openapi.json").json["paths"][path]["get"]
    assert "401" in operation["responses"]
    assert {} in operation["security"] and {"bearerAuth": []} in operation["security"]


def test_every_operation_documents_the_401_of_a_bad_token(client):
    # The token of any call under /api/ is checked before its view runs.
    document = client.get("/api/v1/openapi.json").json
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert "401" in operation["responses"], (method, path)


def test_every_operation_with_a_query_documents_the_servers_414(client):
    """A query string makes a request line as long as the caller likes; past gunicorn's
    limit the server answers 414 with its own page, which the document says (no JSON body
    promised)."""
    document = client.get("/api/v1/openapi.json").json
    with_query = 0
    for item in document["paths"].values():
        for operation in item.values():
            if any(p["in"] == "query" for p in operation.get("parameters", [])):
                with_query += 1
                assert operation["responses"]["414"] == URI_TOO_LONG
    assert with_query >= 5


def _read_request_line(limit: int, length: int):
    config = Config()
    config.set("limit_request_line", limit)
    start, end = b"GET /api/v1/payments/methods/?page=", b" HTTP/1.1"
    line = start + b"1" * (length - len(start) - len(end)) + end
    parser = RequestParser(config, iter([line + b"\r\nHost: portal\r\n\r\n"]), ("127.0.0.1", 1))
    return next(parser)


def test_gunicorn_reads_a_request_line_up_to_the_limit_the_document_names():
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    limit = conf["limit_request_line"]
    assert limit == REQUEST_LINE_LIMIT
    assert _read_request_line(limit, REQUEST_LINE_LIMIT).method == "GET"
    with pytest.raises(LimitRequestLine):
        _read_request_line(limit, REQUEST_LINE_LIMIT + 1)
