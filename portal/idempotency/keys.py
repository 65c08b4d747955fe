"""The hooks that make a POST with `Idempotency-Key` happen once, for every API call that
creates a money object: those whose contract says so (`@operation(..., idempotent=True)`),
so the document and the behaviour come from one declaration.

Before the view: the key is checked (400 if malformed) and claimed by inserting its row in
the request's own transaction. A second request with the same key blocks on the row's
unique index until the first transaction ends; if the first committed, the second reads
its row and replays its answer (or answers 409 when its endpoint or body differ), without
running the view. If the first rolled back, the key was never taken and the second runs.
After the view: once the request's work has committed, its answer is stored on the row.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask, Response, current_app, g, has_request_context, request
from flask_login import current_user

from portal.contract.spec import operation_of
from portal.db import unit_of_work, utcnow
from portal.errors import Conflict, ValidationError
from portal.extensions import db
from portal.idempotency.models import MAX_ENDPOINT_LENGTH, IdempotencyKey
from portal.validation import check_request_key

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

ENDPOINTS = "portal_idempotent_endpoints"

# How long a request that found its key taken waits for the first request's answer to be
# stored: the first has committed by then, so this covers only its last few statements.
ANSWER_WAIT_SECONDS = 5.0
_POLL_SECONDS = 0.05
_CLAIM = "idempotency_claim"


@dataclass
class Claim:
    """The key row this request inserted, in which session, and whether it has committed."""

    row_id: int
    session: so.Session
    committed: bool = False


def register_idempotency(app: Flask) -> None:
    """Install the hooks; after the blueprints, whose operations say which are idempotent."""
    app.extensions[ENDPOINTS] = idempotent_endpoints(app)
    app.before_request(claim_or_replay)
    app.after_request(remember_answer)
    if not sa.event.contains(so.Session, "after_commit", _note_commit):
        sa.event.listen(so.Session, "after_commit", _note_commit)


def idempotent_endpoints(app: Flask) -> frozenset[str]:
    """The endpoints whose operation is declared idempotent (the POSTs that create money)."""
    return frozenset(
        name
        for name, view in app.view_functions.items()
        if (declared := operation_of(view)) is not None and declared.idempotent
    )


def claim_or_replay() -> Response | None:
    """Before-request hook: claim the request's key, or answer from the request that did."""
    if request.method != "POST" or request.endpoint not in current_app.extensions[ENDPOINTS]:
        return None
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = _checked(raw)
    if not current_user.is_authenticated:
        return None  # the view answers 401
    user_id, endpoint, digest = current_user.id, _endpoint(), _body_hash()
    row = IdempotencyKey(user_id=user_id, key=key, endpoint=endpoint, request_hash=digest)
    db.session.add(row)
    try:
        # No savepoint: on SQLite, whose driver begins a transaction only at the first
        # write, releasing one would commit the key on its own. Nothing before this hook
        # left work to keep, so losing the key to another request rolls back everything.
        db.session.flush()
    except sa.exc.IntegrityError:
        db.session.rollback()
        return _answer_of_first(user_id, key, endpoint, digest)
    setattr(g, _CLAIM, Claim(row.id, db.session()))
    return None


def remember_answer(response: Response) -> Response:
    """After-request hook: store the answer once the request's work (and key) committed."""
    claim = g.pop(_CLAIM, None)
    if claim is None or not claim.committed:
        return response  # refused and rolled back: the key is free again
    values = {
        "status_code": response.status_code,
        "answer": {"body": response.get_data(as_text=True)},
        "answered_at": utcnow(),
    }
    try:
        with unit_of_work():
            db.session.execute(
                sa.update(IdempotencyKey).where(IdempotencyKey.id == claim.row_id).values(values)
            )
    except Exception:  # the work is done; a lost answer makes retries wait, then 409
        current_app.logger.exception("answer to idempotency key %s not stored", claim.row_id)
    return response


def _note_commit(session: so.Session) -> None:
    if not has_request_context():
        return
    claim = g.get(_CLAIM)
    if claim is not None and claim.session is session:
        claim.committed = True


def _checked(raw: str) -> str:
    try:
        return check_request_key(raw)
    except ValidationError:
        raise ValidationError(
            f"The {HEADER} header must be 8 to 64 letters, digits, - or _.",
            code="idempotency_key_invalid",
        ) from None


def _endpoint() -> str:
    return f"{request.method} {request.path}"[:MAX_ENDPOINT_LENGTH]


def _body_hash() -> str:
    """SHA-256 of the body; of its JSON with the keys sorted when it is JSON, so the same
    object sent again with other spacing or key order is the same request."""
    data = request.get_json(silent=True) if request.is_json else None
    if data is None:
        raw = request.get_data(cache=True)
    else:
        raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()


def _answer_of_first(user_id: int, key: str, endpoint: str, digest: str) -> Response:
    mine = (IdempotencyKey.user_id == user_id) & (IdempotencyKey.key == key)
    row = db.session.scalar(sa.select(IdempotencyKey).where(mine))
    if row is not None and (row.endpoint, row.request_hash) != (endpoint, digest):
        raise Conflict(
            "This Idempotency-Key was sent with another request (another endpoint or body); "
            "use a new key for a new request.",
            code="idempotency_key_reused",
        )
    row = _wait_for_answer(row.id) if row is not None else None
    if row is None or row.status_code is None:
        raise Conflict(
            "A request with this Idempotency-Key is still being processed; try again shortly.",
            code="idempotency_key_in_progress",
        )
    response = current_app.response_class(
        row.answer["body"], status=row.status_code, mimetype="application/json"
    )
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _wait_for_answer(row_id: int) -> IdempotencyKey | None:
    deadline = time.monotonic() + ANSWER_WAIT_SECONDS
    status = sa.select(IdempotencyKey.status_code).where(IdempotencyKey.id == row_id)
    while db.session.scalar(status) is None and time.monotonic() < deadline:
        db.session.rollback()  # read again from a fresh snapshot (SQLite keeps one per transaction)
        time.sleep(_POLL_SECONDS)
    return db.session.get(IdempotencyKey, row_id, populate_existing=True)
