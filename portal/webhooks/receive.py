"""The receive path: verify Stripe's signature, store the event once, say whether it is new.

Nothing here touches payments; it has to answer fast whatever the load. A request is
refused (400, nothing stored) when the signature does not match any configured secret,
is older than the tolerance or dated further ahead than it, or the signed body is not a
Stripe event.
"""

from __future__ import annotations

import functools
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
import stripe
from sqlalchemy.dialects import postgresql, sqlite

from portal.errors import ValidationError
from portal.extensions import db
from portal.webhooks.handlers import HANDLERS
from portal.webhooks.models import EventStatus, WebhookEvent

# Stripe's own default: a signature older than five minutes may be a replayed request.
TOLERANCE_SECONDS = 300
_EVENT_ID_RE = re.compile(r"^evt_[A-Za-z0-9_]{1,250}$")
_TYPE_RE = re.compile(r"^[a-z0-9_.]{1,100}$")
_MAX_CREATED = 2**40


class BadSignature(ValidationError):
    code = "bad_signature"


class BadEvent(ValidationError):
    code = "bad_event"


@dataclass(frozen=True)
class Envelope:
    """The parts of an event every event has, checked."""

    stripe_id: str
    type: str
    created: datetime
    api_version: str | None
    object_id: str | None
    livemode: bool


@dataclass(frozen=True)
class Receipt:
    event_id: int | None
    stripe_id: str
    status: str
    duplicate: bool


def secrets_from(value: str | None) -> list[str]:
    """The webhook secrets: several, comma-separated, while one is being rotated."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def verify_event(payload: bytes, header: str, secrets: list[str]) -> dict:
    """The event Stripe signed, as a dict; BadSignature or BadEvent if it is not one.

    The check is the library's own: `stripe.Webhook.construct_event` is exactly
    `WebhookSignature.verify_header` followed by building a StripeObject tree from the
    body. We store the event as a plain dict, so that tree would be thrown away, and
    building it was a quarter of the receive path's CPU (bench/webhook_receive.py).
    """
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise BadEvent("The body is not a Stripe event.") from None
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(text, header, secret, TOLERANCE_SECONDS)
        except stripe.SignatureVerificationError:
            continue
        if _signed_at(header) > time.time() + TOLERANCE_SECONDS:
            # The library refuses only old signatures; one dated ahead is refused alike,
            # or a captured request could be replayed until its date is reached.
            raise BadSignature("The Stripe-Signature timestamp is in the future.")
        return _json_object(payload)
    raise BadSignature("The Stripe-Signature header does not match this request.")


def _signed_at(header: str) -> int:
    """The `t=` timestamp of a header the library has already verified."""
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            return int(value)
    raise BadSignature("The Stripe-Signature header has no timestamp.")


def _json_object(payload: bytes) -> dict:
    # Strict: NaN or Infinity would be refused by the database's JSON column.
    try:
        data = json.loads(payload, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise BadEvent("The body is not a Stripe event.") from None
    if not isinstance(data, dict):
        raise BadEvent("The body is not a Stripe event.")
    return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_envelope(data: dict) -> Envelope:
    stripe_id, type_, created = data.get("id"), data.get("type"), data.get("created")
    if not isinstance(stripe_id, str) or not _EVENT_ID_RE.match(stripe_id):
        raise BadEvent("The event has no valid id.")
    if not isinstance(type_, str) or not _TYPE_RE.match(type_):
        raise BadEvent("The event has no valid type.")
    if not isinstance(created, int) or isinstance(created, bool) or not 0 < created < _MAX_CREATED:
        raise BadEvent("The event has no valid created time.")
    api_version = data.get("api_version")
    obj = (data.get("data") or {}).get("object") if isinstance(data.get("data"), dict) else None
    object_id = obj.get("id") if isinstance(obj, dict) else None
    return Envelope(
        stripe_id=stripe_id,
        type=type_,
        created=datetime.fromtimestamp(created, UTC),
        api_version=api_version[:40] if isinstance(api_version, str) else None,
        object_id=object_id[:255] if isinstance(object_id, str) else None,
        livemode=data.get("livemode") is True,
    )


def record_event(data: dict) -> Receipt:
    """Store and commit the event unless its id is already stored; one statement, safe
    under a race.

    Two deliveries of the same event at the same moment both try the insert; the unique
    id lets exactly one of them in and the other finds it already there (ON CONFLICT DO
    NOTHING is the database catching that unique-key race for us).
    """
    envelope = parse_envelope(data)
    status = EventStatus.RECEIVED if envelope.type in HANDLERS else EventStatus.IGNORED
    row = {
        "stripe_id": envelope.stripe_id,
        "type": envelope.type,
        "api_version": envelope.api_version,
        "object_id": envelope.object_id,
        "stripe_created": envelope.created,
        "livemode": envelope.livemode,
        "payload": data,
        "status": status,
        "attempts": 0,
        "result": None if status == EventStatus.RECEIVED else "No handler for this event type.",
    }
    # A transaction of its own, one autocommitted statement: one round trip to the
    # database instead of BEGIN, INSERT, COMMIT, and the row is committed before we answer.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        event_id = connection.execute(_insert_once(connection.dialect.name), row).scalar()
    return Receipt(event_id, envelope.stripe_id, status, duplicate=event_id is None)


@functools.cache
def _insert_once(dialect: str) -> sa.Insert:
    # Built once and reused with new parameters: this is the hot path of every delivery.
    table = WebhookEvent.__table__
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=[table.c.stripe_id])
        .returning(table.c.id)
    )


def event_by_stripe_id(stripe_id: str) -> WebhookEvent | None:
    return db.session.scalar(sa.select(WebhookEvent).where(WebhookEvent.stripe_id == stripe_id))
