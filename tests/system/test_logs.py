"""One JSON line per request and per task, one request id through both, no secret."""

from __future__ import annotations

import io
import json
import logging

import pytest
from celery import signals

from portal.system import logs
from portal.system.tasks import ping
from tests import factories


@pytest.fixture
def lines():
    """The JSON lines the request and task loggers write during the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.json_formatter())
    for logger in (logs.request_log, logs.task_log):
        logger.addHandler(handler)
    previous = logs.request_log.level, logs.task_log.level
    logs.request_log.setLevel(logging.INFO)
    logs.task_log.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    for logger in (logs.request_log, logs.task_log):
        logger.removeHandler(handler)
    logs.request_log.setLevel(previous[0])
    logs.task_log.setLevel(previous[1])


def test_a_request_is_one_line_with_the_callers_request_id(client, lines):
    response = client.get("/healthz?token=abc", headers={"X-Request-ID": "lb-1234.5_x"})
    assert response.headers["X-Request-ID"] == "lb-1234.5_x"
    [line] = lines()
    assert line["message"] == "request" and line["logger"] == "portal.requests"
    assert line["request_id"] == "lb-1234.5_x"
    assert line["method"] == "GET" and line["path"] == "/healthz"
    assert line["endpoint"] == "health.healthz" and line["status"] == 200
    assert line["duration_ms"] >= 0 and line["user_id"] is None
    assert "token" not in json.dumps(line)


@pytest.mark.parametrize("given", ["", "has space", "x" * 129, "semi;colon"])
def test_a_missing_or_odd_request_id_is_replaced(client, lines, given):
    response = client.get("/healthz", headers={"X-Request-ID": given} if given else {})
    made = response.headers["X-Request-ID"]
    assert made != given and len(made) == 32
    assert lines()[0]["request_id"] == made


def test_a_sign_in_logs_no_password_nor_email(anon, lines):
    user = factories.UserFactory(role="student")
    anon.post("/signin", {"email": user.email, "password": factories.PASSWORD})
    text = json.dumps(lines())
    assert factories.PASSWORD not in text and user.email not in text
    assert any(line.get("path") == "/signin" and line["status"] == 302 for line in lines())


def test_a_task_run_in_a_request_carries_its_id(app, lines):
    with app.test_request_context("/", headers={"X-Request-ID": "req-42"}):
        app.preprocess_request()
        ping.delay("x")
        app.do_teardown_request()
    [task] = [line for line in lines() if line["message"] == "task"]
    assert task["request_id"] == "req-42"
    assert task["task"] == "ping" and task["outcome"] == "succeeded"
    assert task["logger"] == "portal.tasks" and task["duration_ms"] >= 0
    assert logs.current_request_id() is None


def test_a_queued_task_carries_the_id_in_its_headers(app):
    headers = {}
    with app.test_request_context("/", headers={"X-Request-ID": "req-7"}):
        app.preprocess_request()
        signals.before_task_publish.send(sender="ping", body=(), headers=headers)
        app.do_teardown_request()
    assert headers["request_id"] == "req-7"


def test_the_id_in_a_tasks_headers_wins(app, lines):
    # A worker reads the id its message brought (put there by before_task_publish).
    with app.test_request_context("/"):
        ping.apply(args=["y"], headers={"request_id": "from-the-web"})
    [task] = lines()
    assert task["request_id"] == "from-the-web"


def test_a_failed_task_is_logged_as_failed(app, lines, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no")

    monkeypatch.setattr(ping, "run", broken)
    with app.test_request_context("/"), pytest.raises(RuntimeError):
        ping.apply()
    [task] = lines()
    assert task["outcome"] == "failed" and task["request_id"]


def test_a_command_running_a_task_in_process_writes_no_task_line(app, lines):
    result = app.test_cli_runner().invoke(args=["tasks", "run", "verify_ledger"])
    assert result.exit_code == 0, result.output
    assert '"message"' not in result.output
    assert [line for line in lines() if line["message"] == "task"] == []


def test_an_api_call_logs_neither_its_token_nor_its_body(app, client, tutor, bearer, lines):
    headers = bearer(tutor)
    iban = "GB82WEST12345698765432"
    response = client.patch(
        "/api/v1/wallet/settings/",
        json={"bank_account_holder": "A Tutor", "bank_name": "A Bank", "bank_iban": iban},
        headers=headers,
    )
    assert response.status_code == 200, response.get_json()
    [line] = [line for line in lines() if line["message"] == "request"]
    assert line["user_id"] == tutor.id and line["status"] == 200
    text = json.dumps(lines())
    token = headers["Authorization"].split()[1]
    assert token not in text and iban not in text and "A Tutor" not in text
