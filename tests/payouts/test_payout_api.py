"""Payouts through the JSON API: the story, the state machine table, and bad input."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.audit.models import AuditLog
from portal.audit.services import history
from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.payouts.models import PayoutRequest, PayoutStatus
from portal.payouts.transitions import TRANSITIONS
from tests import factories
from tests.payouts.conftest import credit, earn, figures, with_bank
from tests.support.ledger import assert_ledger_ok


def post(client, url, headers, json=None):
    return client.post(url, json=json, headers=headers)


def test_tutor_earns_requests_and_an_admin_pays_by_bank(client, bank_tutor, admin, bearer):
    tutor = bank_tutor
    assert earn(tutor, lessons=3) == 3 * 3825
    me, boss = bearer(tutor), bearer(admin)
    assert figures(tutor.id) == {"available": 11475, "in_flight": 0, "withdrawn": 0}

    created = post(
        client, "/api/v1/payouts/", me, {"amount": 10000, "payout_method": "bank_transfer"}
    )
    assert created.status_code == 201, created.json
    payout = created.json
    assert payout["status"] == "pending" and payout["amount"] == 10000
    assert payout["currency"] == "usd" and payout["destination"] == "IBAN •••• 3000"
    assert payout["processed_at"] is None and payout["failure_reason"] is None
    assert figures(tutor.id) == {"available": 1475, "in_flight": 10000, "withdrawn": 0}

    listed = client.get("/api/v1/admin/payouts/", headers=boss).json
    assert listed["count"] == 1 and listed["results"][0]["id"] == payout["id"]
    assert listed["results"][0]["allowed_actions"] == ["approve", "fail"]

    base = f"/api/v1/admin/payouts/{payout['id']}"
    assert post(client, f"{base}/approve/", boss).json["status"] == "approved"
    assert figures(tutor.id) == {"available": 1475, "in_flight": 10000, "withdrawn": 0}
    processed = post(client, f"{base}/process/", boss).json
    assert processed["status"] == "processing" and processed["processed_at"]
    assert figures(tutor.id) == {"available": 1475, "in_flight": 10000, "withdrawn": 0}
    done = post(client, f"{base}/complete/", boss, {"reference": "SEPA-2026-0042"}).json
    assert done["status"] == "completed" and done["bank_reference"] == "SEPA-2026-0042"
    assert figures(tutor.id) == {"available": 1475, "in_flight": 0, "withdrawn": 10000}

    mine = client.get("/api/v1/payouts/", headers=me).json
    assert [p["status"] for p in mine["results"]] == ["completed"]
    assert "tutor_id" not in mine["results"][0]
    trail = [(e.action, e.actor_id) for e in history("payout", payout["id"])]
    assert trail == [
        ("payout.requested", tutor.id),
        ("payout.approved", admin.id),
        ("payout.processing", admin.id),
        ("payout.completed", admin.id),
    ]
    assert_ledger_ok()


@pytest.mark.parametrize("fail_from", ["pending", "approved", "processing"])
def test_fail_returns_the_money_with_the_reason(client, bank_tutor, admin, bearer, fail_from):
    credit(bank_tutor, 20000)
    payout = _payout_in(client, bank_tutor, admin, bearer, fail_from)
    reason = "The bank returned the transfer: account closed."
    response = post(
        client, f"/api/v1/admin/payouts/{payout}/fail/", bearer(admin), {"reason": reason}
    )
    assert response.status_code == 200
    assert response.json["status"] == "failed" and response.json["failure_reason"] == reason
    assert figures(bank_tutor.id) == {"available": 20000, "in_flight": 0, "withdrawn": 0}
    mine = client.get(f"/api/v1/payouts/{payout}/", headers=bearer(bank_tutor)).json
    assert mine["failure_reason"] == reason
    assert_ledger_ok()


def test_cancel_returns_the_money(client, bank_tutor, bearer):
    credit(bank_tutor, 20000)
    me = bearer(bank_tutor)
    payout = post(
        client, "/api/v1/payouts/", me, {"amount": 15000, "payout_method": "bank_transfer"}
    )
    assert figures(bank_tutor.id)["available"] == 5000
    cancelled = client.delete(f"/api/v1/payouts/{payout.json['id']}/", headers=me)
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert figures(bank_tutor.id) == {"available": 20000, "in_flight": 0, "withdrawn": 0}
    again = client.delete(f"/api/v1/payouts/{payout.json['id']}/", headers=me)
    assert again.status_code == 409 and again.json["error"]["code"] == "invalid_transition"
    assert figures(bank_tutor.id) == {"available": 20000, "in_flight": 0, "withdrawn": 0}
    assert_ledger_ok()


# --- the whole state machine ----------------------------------------------------------

STEPS = {
    "pending": [],
    "approved": ["approve"],
    "processing": ["approve", "process"],
    "completed": ["approve", "process", "complete"],
    "failed": ["fail"],
    "cancelled": ["cancel"],
}


def _act(client, payout, action, tutor_headers, admin_headers):
    if action == "cancel":
        return client.delete(f"/api/v1/payouts/{payout}/", headers=tutor_headers)
    body = {"reason": "Checked: not payable."} if action == "fail" else None
    return post(client, f"/api/v1/admin/payouts/{payout}/{action}/", admin_headers, body)


def _payout_in(client, tutor, admin, bearer, status, amount=10000):
    me, boss = bearer(tutor), bearer(admin)
    made = post(
        client, "/api/v1/payouts/", me, {"amount": amount, "payout_method": "bank_transfer"}
    )
    assert made.status_code == 201, made.json
    for action in STEPS[status]:
        assert _act(client, made.json["id"], action, me, boss).status_code == 200
    return made.json["id"]


def _snapshot(tutor_id):
    return (
        figures(tutor_id),
        db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)),
        db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)),
    )


@pytest.mark.parametrize("action", list(TRANSITIONS))
@pytest.mark.parametrize("status", [s.value for s in PayoutStatus])
def test_state_machine_table(client, bank_tutor, admin, bearer, status, action):
    credit(bank_tutor, 10000)
    payout = _payout_in(client, bank_tutor, admin, bearer, status)
    before = _snapshot(bank_tutor.id)
    response = _act(client, payout, action, bearer(bank_tutor), bearer(admin))
    db.session.expire_all()
    row = db.session.scalar(sa.select(PayoutRequest))
    if status in TRANSITIONS[action].sources:
        assert response.status_code == 200, response.json
        assert row.status == TRANSITIONS[action].target
    else:
        assert response.status_code == 409, response.json
        assert response.json["error"]["code"] == "invalid_transition"
        assert status in response.json["error"]["message"]
        assert row.status == status
        assert _snapshot(bank_tutor.id) == before
    assert_ledger_ok()


def test_the_table_is_the_spec():
    allowed = {(s, a) for a, t in TRANSITIONS.items() for s in t.sources}
    assert allowed == {
        ("pending", "approve"),
        ("approved", "process"),
        ("processing", "complete"),
        ("pending", "cancel"),
        ("pending", "fail"),
        ("approved", "fail"),
        ("processing", "fail"),
    }


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": 999, "payout_method": "bank_transfer"}, 400, "below_minimum"),
        ({"amount": 0, "payout_method": "bank_transfer"}, 400, "below_minimum"),
        ({"amount": -5000, "payout_method": "bank_transfer"}, 400, "below_minimum"),
        ({"amount": 5001, "payout_method": "bank_transfer"}, 409, "insufficient_funds"),
        ({"amount": 10**12, "payout_method": "bank_transfer"}, 400, "invalid"),
        ({"amount": "2000", "payout_method": "bank_transfer"}, 400, "invalid"),
        ({"amount": 20.5, "payout_method": "bank_transfer"}, 400, "invalid"),
        ({"amount": True, "payout_method": "bank_transfer"}, 400, "invalid"),
        ({"amount": None, "payout_method": "bank_transfer"}, 400, "invalid"),
        ({"payout_method": "bank_transfer"}, 400, "invalid"),
        ({"amount": 2000}, 400, "invalid"),
        ({"amount": 2000, "payout_method": "paypal"}, 400, "invalid"),
        ({"amount": 2000, "payout_method": ["stripe"]}, 400, "invalid"),
        ({"amount": 2000, "payout_method": "stripe"}, 400, "missing_details"),
        ({"amount": 2000, "payout_method": "bank_transfer", "currency": "eur"}, 400, "invalid"),
    ],
)
def test_bad_requests_change_nothing(client, bank_tutor, bearer, body, status, code):
    credit(bank_tutor, 5000)
    before = _snapshot(bank_tutor.id)
    response = post(client, "/api/v1/payouts/", bearer(bank_tutor), body)
    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == code
    assert response.json["error"]["message"]
    assert _snapshot(bank_tutor.id) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PayoutRequest)) == 0


def test_not_json_is_a_400(client, bank_tutor, bearer):
    headers = {**bearer(bank_tutor), "Content-Type": "application/json"}
    response = client.post("/api/v1/payouts/", data="amount=2000", headers=headers)
    assert response.status_code == 400


def test_a_tutor_in_debt_cannot_withdraw(client, bank_tutor, bearer):
    from portal.wallets.adjustments import debit_wallet
    from portal.wallets.refunds import process_refund_deduction

    credit(bank_tutor, 5000)
    debit_wallet(tutor_id=bank_tutor.id, amount=5000, reason="x", idempotency_key="d1")
    # A refund after release: available goes below zero.
    process_refund_deduction(
        tutor_id=bank_tutor.id, refund=2000, fee_part=300, idempotency_key="r1"
    )
    db.session.commit()
    assert figures(bank_tutor.id)["available"] == -1700
    response = post(client, "/api/v1/payouts/", bearer(bank_tutor),
                    {"amount": 1000, "payout_method": "bank_transfer"})  # fmt: skip
    assert response.status_code == 409
    assert "debt" in response.json["error"]["message"]
    assert figures(bank_tutor.id)["available"] == -1700


def test_somebody_elses_payout_is_a_404(client, bank_tutor, bearer):
    credit(bank_tutor, 5000)
    other = factories.UserFactory(role="tutor")
    made = post(client, "/api/v1/payouts/", bearer(bank_tutor),
                {"amount": 2000, "payout_method": "bank_transfer"})  # fmt: skip
    url = f"/api/v1/payouts/{made.json['id']}/"
    assert client.get(url, headers=bearer(other)).status_code == 404
    assert client.delete(url, headers=bearer(other)).status_code == 404
    assert client.get("/api/v1/payouts/", headers=bearer(other)).json["count"] == 0
    assert (
        client.delete("/api/v1/payouts/not-a-uuid/", headers=bearer(bank_tutor)).status_code == 404
    )
    missing = "/api/v1/payouts/6f1c1c4e-8b9b-4a7e-9d59-1d2f0c7b1a11/"
    assert client.delete(missing, headers=bearer(bank_tutor)).status_code == 404
    assert db.session.scalar(sa.select(PayoutRequest.status)) == "pending"


@pytest.mark.parametrize("who", ["student", "tutor", "anonymous"])
def test_admin_endpoints_refuse_everyone_else(app, client, bank_tutor, admin, bearer, who):
    credit(bank_tutor, 5000)
    made = post(client, "/api/v1/payouts/", bearer(bank_tutor),
                {"amount": 2000, "payout_method": "bank_transfer"})  # fmt: skip
    user = {"student": factories.UserFactory(role="student"), "tutor": bank_tutor}.get(who)
    headers = bearer(user) if user else {}
    expected = 401 if user is None else 403
    # Each request in its own app context, as in production: none inherits a token user.
    with app.app_context():
        assert client.get("/api/v1/admin/payouts/", headers=headers).status_code == expected
    for action in ("approve", "process", "complete", "fail"):
        url = f"/api/v1/admin/payouts/{made.json['id']}/{action}/"
        with app.app_context():
            body = {"reason": "x"} if action == "fail" else None
            response = post(client, url, headers, body)
        # Without a token or a session there is no session to forge: the API's 401.
        assert response.status_code == expected
        if user is None:
            assert response.json["error"]["code"] == "not_authenticated"
    assert db.session.scalar(sa.select(PayoutRequest.status)) == "pending"


def test_students_and_admins_have_no_payouts_of_their_own(client, admin, bearer):
    student = factories.UserFactory(role="student")
    assert client.get("/api/v1/payouts/", headers=bearer(student)).status_code == 403
    body = {"amount": 2000, "payout_method": "bank_transfer"}
    assert post(client, "/api/v1/payouts/", bearer(student), body).status_code == 403
    assert post(client, "/api/v1/payouts/", bearer(admin), body).status_code == 403


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("fail", {}),
        ("fail", {"reason": ""}),
        ("fail", {"reason": "   "}),
        ("fail", {"reason": 42}),
        ("fail", {"reason": "x" * 256}),
        ("complete", {"reference": 42}),
        ("complete", {"reference": "r" * 121}),
        ("approve", {"note": "hi"}),
    ],
)
def test_bad_admin_input_changes_nothing(client, bank_tutor, admin, bearer, action, body):
    credit(bank_tutor, 10000)
    payout = _payout_in(client, bank_tutor, admin, bearer, "processing")
    before = _snapshot(bank_tutor.id)
    response = post(client, f"/api/v1/admin/payouts/{payout}/{action}/", bearer(admin), body)
    assert response.status_code == 400, response.json
    assert _snapshot(bank_tutor.id) == before


def test_admin_list_filters(client, admin, bearer):
    tutors = [factories.UserFactory(role="tutor", name=n) for n in ("Ana Lima", "Bo Chen")]
    for tutor in tutors:
        with_bank(tutor)
        credit(tutor, 10000)
        for _ in range(2):
            post(client, "/api/v1/payouts/", bearer(tutor),
                 {"amount": 2000, "payout_method": "bank_transfer"})  # fmt: skip
    boss = bearer(admin)
    assert client.get("/api/v1/admin/payouts/", headers=boss).json["count"] == 4
    only = client.get(f"/api/v1/admin/payouts/?tutor_id={tutors[0].id}", headers=boss).json
    assert only["count"] == 2 and {p["tutor_id"] for p in only["results"]} == {tutors[0].id}
    assert client.get("/api/v1/admin/payouts/?status=approved", headers=boss).json["count"] == 0
    assert client.get("/api/v1/admin/payouts/?status=all", headers=boss).json["count"] == 4
    assert (
        client.get("/api/v1/admin/payouts/?payout_method=stripe", headers=boss).json["count"] == 0
    )
    assert client.get("/api/v1/admin/payouts/?status=lost", headers=boss).status_code == 400
    assert client.get("/api/v1/admin/payouts/?payout_method=cash", headers=boss).status_code == 400
    oldest_first = client.get("/api/v1/admin/payouts/", headers=boss).json["results"]
    assert [p["created_at"] for p in oldest_first] == sorted(p["created_at"] for p in oldest_first)


def test_the_same_idempotency_key_asks_for_one_payout(client, bank_tutor, bearer):
    credit(bank_tutor, 5000)
    headers = {**bearer(bank_tutor), "Idempotency-Key": "double-click-0001"}
    body = {"amount": 2000, "payout_method": "bank_transfer"}
    first = client.post("/api/v1/payouts/", json=body, headers=headers)
    second = client.post("/api/v1/payouts/", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json["id"] == second.json["id"]
    assert figures(bank_tutor.id) == {"available": 3000, "in_flight": 2000, "withdrawn": 0}
    other = client.post("/api/v1/payouts/", json={**body, "amount": 1500}, headers=headers)
    assert other.status_code == 409 and other.json["error"]["code"] == "idempotency_key_reused"
    bad = client.post("/api/v1/payouts/", json=body, headers={**headers, "Idempotency-Key": "x"})
    assert bad.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PayoutRequest)) == 1
    assert_ledger_ok()


def test_submitting_the_payout_form_twice_asks_once(browser, bank_tutor):
    import re

    credit(bank_tutor, 5000)
    me = browser(bank_tutor)
    page = me.get("/payouts").get_data(as_text=True)
    key = re.search(r'name="request_key" type="hidden" value="([0-9a-f]{32})"', page).group(1)
    form = {"amount": "20.00", "payout_method": "bank_transfer", "request_key": key}
    assert me.post("/payouts", form).status_code == 302
    assert me.post("/payouts", form).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PayoutRequest)) == 1
    assert figures(bank_tutor.id)["in_flight"] == 2000
    fresh = me.get("/payouts").get_data(as_text=True)
    assert key not in fresh  # the next form asks for a new payout


def test_a_payout_reads_as_its_viewer_may_see_it(client, bank_tutor, admin, bearer):
    credit(bank_tutor, 5000)
    made = post(client, "/api/v1/payouts/", bearer(bank_tutor),
                {"amount": 2000, "payout_method": "bank_transfer"})  # fmt: skip
    url = f"/api/v1/payouts/{made.json['id']}/"
    mine = client.get(url, headers=bearer(bank_tutor)).json
    theirs = client.get(url, headers=bearer(admin)).json
    assert mine == made.json
    assert not {"tutor_id", "provider_transfer_id", "allowed_actions"} & set(mine)
    assert theirs == {**mine, "tutor_id": bank_tutor.id, "provider_transfer_id": None,
                      "allowed_actions": ["approve", "fail"]}  # fmt: skip


def test_steps_without_fields_take_no_body_or_an_empty_object(client, bank_tutor, admin, bearer):
    credit(bank_tutor, 5000)
    payout = _payout_in(client, bank_tutor, admin, bearer, "pending", amount=2000)
    base, boss = f"/api/v1/admin/payouts/{payout}", bearer(admin)
    assert post(client, f"{base}/approve/", boss, {}).json["allowed_actions"] == ["process", "fail"]
    assert post(client, f"{base}/process/", boss).json["status"] == "processing"
    done = post(client, f"{base}/complete/", boss, {})
    assert (done.json["status"], done.json["bank_reference"]) == ("completed", None)
    assert done.json["allowed_actions"] == []
    assert figures(bank_tutor.id) == {"available": 3000, "in_flight": 0, "withdrawn": 2000}


def test_admin_list_reads_the_short_names_and_refuses_a_long_tutor(client, admin, bearer):
    tutor = factories.UserFactory(role="tutor", name="Ana Lima")
    with_bank(tutor)
    credit(tutor, 10000)
    post(client, "/api/v1/payouts/", bearer(tutor),
         {"amount": 2000, "payout_method": "bank_transfer"})  # fmt: skip
    boss = bearer(admin)

    def count(query):
        return client.get(f"/api/v1/admin/payouts/?{query}", headers=boss).json["count"]

    assert count("tutor=%20ana%20") == count("method=bank_transfer&status=") == 1
    assert count("tutor=Bo") == count("method=stripe") == 0
    refused = client.get(f"/api/v1/admin/payouts/?tutor={'a' * 121}", headers=boss)
    assert refused.status_code == 400 and "tutor" in refused.json["error"]["fields"]
