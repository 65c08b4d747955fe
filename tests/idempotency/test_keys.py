"""`Idempotency-Key` on the API calls that create money: replayed, refused, freed, pruned."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.db import utcnow
from portal.extensions import db
from portal.idempotency.keys import idempotent_endpoints
from portal.idempotency.models import IdempotencyKey
from portal.idempotency.tasks import prune_idempotency_keys
from tests import factories
from tests.idempotency.conftest import ADJUST, INVOICES, available, invoices, keys, lines


def _adjust(client, headers, tutor_id, amount=700, reason="Bonus"):
    return client.post(
        ADJUST.format(tutor_id), json={"amount": amount, "reason": reason}, headers=headers
    )


def test_a_resend_replays_the_first_answer_and_adjusts_once(client, bearer, admin, funded_tutor):
    headers = {**bearer(admin), "Idempotency-Key": "bonus-0001"}
    first = _adjust(client, headers, funded_tutor.id)
    again = _adjust(client, headers, funded_tutor.id)
    assert first.status_code == again.status_code == 201
    assert again.get_data() == first.get_data()
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.mimetype == "application/json"
    assert available(funded_tutor.id) == 5000 + 700
    assert lines() == 2


def test_without_a_key_each_call_is_a_new_adjustment(client, bearer, admin, funded_tutor):
    headers = bearer(admin)
    assert _adjust(client, headers, funded_tutor.id).status_code == 201
    assert _adjust(client, headers, funded_tutor.id).status_code == 201
    assert available(funded_tutor.id) == 5000 + 1400
    assert keys() == []


def test_the_same_json_in_another_order_and_spacing_is_the_same_request(
    client, bearer, admin, funded_tutor
):
    headers = {**bearer(admin), "Idempotency-Key": "bonus-0002", "Content-Type": "application/json"}
    url = ADJUST.format(funded_tutor.id)
    first = client.post(url, data='{"amount": 700, "reason": "Bonus"}', headers=headers)
    again = client.post(url, data='{"reason":"Bonus",\n "amount":700}', headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert available(funded_tutor.id) == 5700


def test_the_key_with_another_body_or_endpoint_is_a_409(client, bearer, admin, funded_tutor):
    other_tutor = factories.UserFactory(role="tutor", hourly_rate=4000)
    headers = {**bearer(admin), "Idempotency-Key": "bonus-0003"}
    assert _adjust(client, headers, funded_tutor.id).status_code == 201
    for response in (
        _adjust(client, headers, funded_tutor.id, amount=800),
        _adjust(client, headers, other_tutor.id),
        client.post(INVOICES, json={"student_id": 1, "items": []}, headers=headers),
    ):
        assert response.status_code == 409
        assert response.json["error"]["code"] == "idempotency_key_reused"
        assert "another request" in response.json["error"]["message"]
    assert available(funded_tutor.id) == 5700
    assert available(other_tutor.id) == 0


def test_a_malformed_key_is_a_400_and_does_nothing(client, bearer, admin, funded_tutor):
    auth = bearer(admin)
    for bad in ("short", "x" * 65, "has space 1", "bonus/0004", "ключ-00001"):
        response = _adjust(client, {**auth, "Idempotency-Key": bad}, funded_tutor.id)
        assert response.status_code == 400, bad
        assert response.json["error"]["code"] == "idempotency_key_invalid"
        assert "Idempotency-Key header" in response.json["error"]["message"]
    assert available(funded_tutor.id) == 5000
    assert keys() == []


def test_keys_are_each_users_own(client, bearer, admin, funded_tutor):
    second_admin = factories.UserFactory(role="admin")
    key = {"Idempotency-Key": "bonus-0005"}
    first = _adjust(client, {**bearer(admin), **key}, funded_tutor.id)
    second = _adjust(client, {**bearer(second_admin), **key}, funded_tutor.id)
    assert (first.status_code, second.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in second.headers
    assert first.json["id"] != second.json["id"]
    assert available(funded_tutor.id) == 6400
    assert sorted(k.user_id for k in keys()) == sorted([admin.id, second_admin.id])


def test_a_refused_request_leaves_the_key_free_for_the_retry(client, bearer, admin, funded_tutor):
    headers = {**bearer(admin), "Idempotency-Key": "debit-0006"}
    refused = _adjust(client, headers, funded_tutor.id, amount=-6000, reason="Chargeback")
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "insufficient_funds"
    assert keys() == []
    _adjust(client, bearer(admin), funded_tutor.id, amount=1000)  # the money arrives
    retried = _adjust(client, headers, funded_tutor.id, amount=-6000, reason="Chargeback")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert available(funded_tutor.id) == 0


def test_a_signed_in_browser_gets_the_same_protection(login, admin, funded_tutor):
    browser = login(admin)
    headers = {"Idempotency-Key": "bonus-0007"}
    body = {"amount": 700, "reason": "Bonus"}
    url = ADJUST.format(funded_tutor.id)
    first = browser.api("POST", url, json=body, headers=dict(headers))
    again = browser.api("POST", url, json=body, headers=dict(headers))
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert available(funded_tutor.id) == 5700


def test_a_manual_invoice_sent_twice_is_one_draft(client, bearer, admin, student):
    headers = {**bearer(admin), "Idempotency-Key": "invoice-0008"}
    body = {"student_id": student.id, "items": [{"description": "Workbook", "quantity": 2,
                                                 "unit_price": 1250}]}  # fmt: skip
    first = client.post(INVOICES, json=body, headers=headers)
    again = client.post(INVOICES, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json == again.json
    assert invoices() == 1


def test_the_answer_is_stored_encrypted(client, bearer, admin, funded_tutor):
    headers = {**bearer(admin), "Idempotency-Key": "bonus-0009"}
    answer = _adjust(client, headers, funded_tutor.id, reason="Conference bonus")
    (row,) = keys()
    assert (row.status_code, row.endpoint) == (201, f"POST {ADJUST.format(funded_tutor.id)}")
    assert json.loads(row.answer["body"]) == answer.json
    raw = db.session.scalar(sa.text("SELECT answer FROM idempotency_keys"))
    assert "Conference bonus" not in raw and raw.startswith("gAAAA")


def test_keys_older_than_the_setting_are_pruned_daily(app, client, bearer, admin, funded_tutor):
    for key in ("bonus-0010", "bonus-0011"):
        _adjust(client, {**bearer(admin), "Idempotency-Key": key}, funded_tutor.id)
    old, fresh = keys()
    old.created_at = utcnow() - timedelta(hours=app.config["IDEMPOTENCY_KEY_HOURS"], minutes=1)
    db.session.commit()
    assert prune_idempotency_keys.apply().get() == 1
    assert [k.key for k in keys()] == ["bonus-0011"]
    from portal.celery import BEAT_SCHEDULE

    assert "prune_idempotency_keys" in BEAT_SCHEDULE


# Every API call that creates a money object; each must keep its Idempotency-Key.
MONEY_ENDPOINTS = {
    "payments_api.create_intent",
    "payments_api.confirm",
    "payments_api.refund",
    "payouts_api.create",
    "subscriptions_api.create",
    "subscriptions_api.change",
    "invoices_api.pay",
    "invoices_admin_api.create",
    "invoices_admin_api.finalize",
    "wallets_admin_api.adjustments",
}


def test_the_calls_that_create_money_are_the_idempotent_ones(app):
    assert idempotent_endpoints(app) == MONEY_ENDPOINTS
    routes = {rule.endpoint: rule.methods for rule in app.url_map.iter_rules()}
    assert all("POST" in routes[endpoint] for endpoint in MONEY_ENDPOINTS)
    assert idempotent_endpoints(Flask("without_the_api")) == frozenset()


def test_the_table_holds_one_row_per_user_and_key(admin):
    first = IdempotencyKey(user_id=admin.id, key="k-00000001", endpoint="POST /x", request_hash="a")
    db.session.add(first)
    db.session.commit()
    db.session.add(
        IdempotencyKey(user_id=admin.id, key="k-00000001", endpoint="POST /y", request_hash="b")
    )
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()
