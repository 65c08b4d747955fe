"""The receive path: what Stripe's signature admits, what is stored, and every bad request."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.webhooks.models import EventStatus, WebhookEvent
from tests.webhooks.conftest import URL, event_body, plain_invoice, sign, stored

SUBSCRIPTION = {"id": "sub_1", "object": "subscription", "status": "active", "customer": "cus_1"}


def _count() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(WebhookEvent))


def _error(response) -> str:
    return response.get_json()["error"]["code"]


def test_a_signed_event_is_stored_with_its_envelope_and_processed(deliver):
    event = event_body("invoice.paid", plain_invoice("in_1"), created=1_700_000_000)
    response = deliver(event)
    assert response.status_code == 200
    assert response.get_json() == {"received": True, "id": event["id"], "duplicate": False}
    row = stored(event["id"])
    assert row.type == "invoice.paid"
    assert row.api_version == "2024-06-20"
    assert row.object_id == "in_1"
    assert int(row.stripe_created.timestamp()) == 1_700_000_000
    assert row.payload == event
    assert row.received_at is not None
    assert (row.status, row.attempts, row.last_error) == (EventStatus.PROCESSED, 1, None)
    assert row.processed_at is not None


def test_a_missing_signature_is_refused_before_the_database_is_touched(client, count_queries):
    body = json.dumps(event_body("customer.subscription.created", SUBSCRIPTION))
    with count_queries() as statements:
        response = client.post(URL, data=body, content_type="application/json")
    assert response.status_code == 400
    assert _error(response) == "missing_signature"
    assert statements == []
    assert _count() == 0


@pytest.mark.parametrize(
    "header",
    ["garbage", "t=notanumber,v1=abc", "t=123", "v1=" + "0" * 64, "t=1,v0=abc", ","],
)
def test_a_garbage_signature_header_is_400_and_stores_nothing(client, header):
    body = json.dumps(event_body("customer.subscription.created", SUBSCRIPTION))
    response = client.post(URL, data=body, headers={"Stripe-Signature": header})
    assert response.status_code == 400
    assert _error(response) == "bad_signature"
    assert _count() == 0


def test_a_signature_made_with_another_secret_is_400(deliver):
    response = deliver(event_body("customer.subscription.created", SUBSCRIPTION), secret_="whsec_x")
    assert response.status_code == 400
    assert _error(response) == "bad_signature"
    assert _count() == 0


def test_a_timestamp_older_than_300_seconds_is_400(deliver):
    stale = int(time.time()) - 301
    response = deliver(event_body("customer.subscription.created", SUBSCRIPTION), timestamp=stale)
    assert response.status_code == 400
    assert _error(response) == "bad_signature"
    assert _count() == 0


def test_a_timestamp_within_the_tolerance_is_accepted(deliver):
    recent = int(time.time()) - 240
    response = deliver(event_body("customer.subscription.created", SUBSCRIPTION), timestamp=recent)
    assert response.status_code == 200


def test_a_timestamp_more_than_300_seconds_ahead_is_400(deliver):
    ahead = int(time.time()) + 301
    response = deliver(event_body("customer.subscription.created", SUBSCRIPTION), timestamp=ahead)
    assert response.status_code == 400
    assert _error(response) == "bad_signature"
    assert _count() == 0


def test_a_timestamp_a_little_ahead_is_accepted(deliver):
    """Clocks drift: a signature up to the tolerance ahead of ours is Stripe's, not a replay."""
    ahead = int(time.time()) + 240
    response = deliver(event_body("customer.subscription.created", SUBSCRIPTION), timestamp=ahead)
    assert response.status_code == 200


def test_a_body_changed_after_signing_is_400(client, secret):
    event = event_body("customer.subscription.created", SUBSCRIPTION)
    header = sign(json.dumps(event), secret)
    event["data"]["object"]["status"] = "canceled"
    response = client.post(URL, data=json.dumps(event), headers={"Stripe-Signature": header})
    assert response.status_code == 400
    assert _error(response) == "bad_signature"
    assert _count() == 0


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[]",
        "null",
        '"evt_1"',
        b"\xff\xfe{}",
        '{"id": "evt_1", "type": "invoice.paid", "created": 1, "amount": NaN}',
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=["invalid-json", "array", "null", "string", "not-utf8", "nan", "deeply-nested"],
)
def test_a_signed_body_that_is_not_a_json_object_is_400(client, secret, body):
    raw = body if isinstance(body, bytes) else body.encode()
    header = sign(raw.decode("latin-1"), secret) if isinstance(body, bytes) else sign(body, secret)
    response = client.post(URL, data=raw, headers={"Stripe-Signature": header})
    assert response.status_code == 400
    assert _error(response) == "bad_event"
    assert _count() == 0


@pytest.mark.parametrize(
    "change",
    [
        {"id": None},
        {"id": "not-an-event"},
        {"id": 42},
        {"type": None},
        {"type": "Not A Type!"},
        {"created": "yesterday"},
        {"created": True},
        {"created": -5},
    ],
)
def test_an_event_without_a_valid_envelope_is_400(deliver, change):
    event = event_body("customer.subscription.created", SUBSCRIPTION) | change
    response = deliver(event)
    assert response.status_code == 400
    assert _error(response) == "bad_event"
    assert _count() == 0


def test_a_body_over_the_limit_is_413(app, deliver, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_MAX_BYTES", 2048)
    event = event_body("customer.subscription.created", SUBSCRIPTION | {"pad": "x" * 4096})
    response = deliver(event)
    assert response.status_code == 413
    assert _error(response) == "too_large"
    assert _count() == 0


def test_either_of_two_rotated_secrets_is_accepted(app, deliver, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", "whsec_new, whsec_old")
    old = deliver(event_body("customer.subscription.created", SUBSCRIPTION), secret_="whsec_old")
    new = deliver(event_body("customer.subscription.created", SUBSCRIPTION), secret_="whsec_new")
    other = deliver(event_body("customer.subscription.created", SUBSCRIPTION), secret_="whsec_x")
    assert (old.status_code, new.status_code, other.status_code) == (200, 200, 400)
    assert _count() == 2


def test_no_configured_secret_refuses_everything(app, deliver, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", " , ")
    response = deliver(event_body("customer.subscription.created", SUBSCRIPTION), secret_=" ")
    assert response.status_code == 400
    assert _count() == 0


def test_a_duplicate_gets_200_and_is_not_processed_again(deliver):
    event = event_body("invoice.paid", plain_invoice("in_1"))
    first, second = deliver(event), deliver(event)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.get_json()["duplicate"] is True
    assert _count() == 1
    assert stored(event["id"]).attempts == 1


def test_an_unknown_type_is_stored_as_ignored_and_not_queued(deliver, monkeypatch):
    from portal.webhooks import tasks

    queued = []
    monkeypatch.setattr(tasks.process_webhook_event, "delay", lambda *a: queued.append(a))
    event = event_body("customer.tax_id.created", {"id": "txi_1", "object": "tax_id"})
    assert deliver(event).status_code == 200
    row = stored(event["id"])
    assert (row.status, row.attempts) == (EventStatus.IGNORED, 0)
    assert row.result == "No handler for this event type."
    assert queued == []


def test_a_handled_type_is_queued_once_after_the_commit(deliver, monkeypatch):
    from portal.webhooks import tasks

    queued = []

    def remember(event_id):
        # Sent after the commit: another connection (a worker's) already sees the row.
        with db.engine.connect() as other:
            found = other.scalar(sa.select(WebhookEvent.id).where(WebhookEvent.id == event_id))
        queued.append((event_id, found is not None))

    monkeypatch.setattr(tasks.process_webhook_event, "delay", remember)
    event = event_body("invoice.paid", {"id": "in_1", "object": "invoice"})
    deliver(event)
    deliver(event)
    assert queued == [(stored(event["id"]).id, True)]
    assert stored(event["id"]).status == EventStatus.RECEIVED


def test_the_route_needs_no_csrf_token_but_only_takes_post(client, deliver):
    assert deliver(event_body("invoice.paid", {"id": "in_2"})).status_code == 200
    response = client.get(URL)
    assert response.status_code == 405
    assert _error(response) == "method_not_allowed"


@pytest.mark.parametrize(("pad", "status", "stored_count"), [(8192, 413, 0), (100, 200, 1)])
def test_a_chunked_body_is_held_to_the_limit_too(
    app, live_server, secret, monkeypatch, pad, status, stored_count
):
    import requests

    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_MAX_BYTES", 2048)
    body = json.dumps(event_body("customer.created", {"id": "cus_1", "pad": "x" * pad})).encode()
    chunks = (body[i : i + 512] for i in range(0, len(body), 512))  # no Content-Length
    response = requests.post(
        live_server.url + URL,
        data=chunks,
        headers={"Stripe-Signature": sign(body, secret)},
        timeout=10,
    )
    assert response.status_code == status, response.text
    assert _count() == stored_count


def test_a_broker_outage_still_answers_200_and_leaves_the_event_for_the_sweeper(
    deliver, monkeypatch, caplog
):
    from kombu.exceptions import OperationalError

    from portal.webhooks import tasks

    def unreachable(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.process_webhook_event, "delay", unreachable)
    event = event_body("customer.subscription.created", SUBSCRIPTION)
    response = deliver(event)
    assert response.status_code == 200
    assert response.get_json()["duplicate"] is False
    assert stored(event["id"]).status == EventStatus.RECEIVED
    assert "stored but not queued" in caplog.text
    # Stripe's retry of the same event is a duplicate: it changes nothing.
    assert deliver(event).get_json()["duplicate"] is True
    assert _count() == 1
