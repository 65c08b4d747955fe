"""One JSON line per request and per task, carrying one request id through both.

The id is the caller's `X-Request-ID` (when it is a short token of letters, digits, `.`,
`_` and `-`) or a new one; the response sends it back in `X-Request-ID`. A task queued
while serving the request carries it in its message headers (Celery's
`before_task_publish`), and the task's line, with any task it queues in turn, carries it
on. A line names the route, the path without its query string, the status, the time
taken and the user's id: never a header, a query, a form field or a body, so no token,
password or bank number can reach the log.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from time import perf_counter

import sqlalchemy as sa
from celery import signals
from celery.exceptions import Retry
from flask import Flask, g, has_request_context, request
from flask_login import current_user
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

request_log = logging.getLogger("portal.requests")
task_log = logging.getLogger("portal.tasks")

# A context variable, not `g`: an eager task runs in an app context of its own inside
# the request, and must still see the request's id.
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a line is written (a test's capture, or
    the process's), never to a stream closed since."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def json_formatter() -> JsonFormatter:
    return JsonFormatter(
        "{asctime}{levelname}{name}{message}",
        style="{",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    )


def register_logging(app: Flask) -> None:
    """JSON lines for requests and tasks on stderr (unless LOG_REQUESTS is off), the
    request id in and out, and into the tasks a request queues."""
    if app.config["LOG_REQUESTS"]:
        for logger in (request_log, task_log):
            if not logger.handlers:
                handler = StderrHandler()
                handler.setFormatter(json_formatter())
                logger.addHandler(handler)
                logger.setLevel(logging.INFO)
                logger.propagate = False
    app.before_request(_begin_request)
    app.after_request(_end_request)
    app.teardown_request(_forget_request_id)
    signals.before_task_publish.connect(
        _stamp_task_headers, weak=False, dispatch_uid="portal-request-id"
    )


def _begin_request() -> None:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = given if _VALID_ID.fullmatch(given) else uuid.uuid4().hex
    g.request_id_token = _request_id.set(request_id)
    g.log_started = perf_counter()


def _end_request(response):
    request_id = current_request_id()
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("log_started")
    request_log.info(
        "request",
        extra={
            "request_id": request_id,
            "method": request.method,
            "path": request.path,
            "endpoint": request.endpoint,
            "status": response.status_code,
            "duration_ms": round((perf_counter() - started) * 1000, 1) if started else None,
            "user_id": _user_id(),
        },
    )
    return response


def _user_id() -> int | None:
    """The request's user id, read from the session's identity of the row: the request's
    commit has expired the user, and reading `id` would load it again just for this line."""
    try:
        user = current_user._get_current_object()
        state = sa.inspect(user, raiseerr=False)
        if state is not None and state.identity is not None:
            return state.identity[0]
        return user.id if user.is_authenticated else None
    except Exception:  # no user loader reached (a failed request); the line still goes out
        return None


def _forget_request_id(exc=None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        _request_id.reset(token)


def _stamp_task_headers(headers=None, **_) -> None:
    request_id = current_request_id()
    if request_id and headers is not None and "request_id" not in headers:
        headers["request_id"] = request_id


def logged(task, call: Callable[[], object]) -> object:
    """Run `call` (the body of `task`) under the request id it was queued with, and write
    its line: task, id, outcome, duration. A worker's tasks and those a request runs in
    process are logged; those a command runs in process are the command's."""
    request_id = (
        getattr(task.request, "request_id", None)
        or (task.request.headers or {}).get("request_id")
        or current_request_id()
        or uuid.uuid4().hex
    )
    if task.request.is_eager and not has_request_context():
        # Run in process by a command (`flask tasks run`, a replay): the command's own
        # output says what happened, and its stderr stays the command's.
        return call()
    token = _request_id.set(request_id)
    started = perf_counter()
    try:
        value = call()
    except Retry:
        outcome = "retried"
        raise
    except BaseException:
        outcome = "failed"
        raise
    else:
        outcome = "succeeded"
        return value
    finally:
        _request_id.reset(token)
        task_log.info(
            "task",
            extra={
                "request_id": request_id,
                "task": task.name,
                "task_id": task.request.id,
                "outcome": outcome,
                "duration_ms": round((perf_counter() - started) * 1000, 1),
                "eager": bool(task.request.is_eager),
            },
        )
