"""/api/v1/wallet/…: the tutor's wallet over JSON, and what bad input gets."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.db import utcnow
from portal.extensions import db
from portal.payouts.models import PayoutDestination
from portal.wallets.earnings import process_lesson_earning, release_pending_earnings
from portal.wallets.models import TutorWallet
from portal.wallets.movement import get_wallet


@pytest.fixture
def earning_tutor(tutor):
    for n in range(3):
        process_lesson_earning(
            tutor_id=tutor.id, gross=4500, fee=675, idempotency_key=f"payment:{n}", payment_id=n
        )
    release_pending_earnings(utcnow() + timedelta(days=8))
    process_lesson_earning(
        tutor_id=tutor.id, gross=1000, fee=150, idempotency_key="payment:9", payment_id=9
    )
    db.session.commit()
    return tutor


def test_wallet_summary(client, bearer, earning_tutor):
    body = client.get("/api/v1/wallet/", headers=bearer(earning_tutor)).json
    assert body == {
        "balance": 3 * 3825,
        "pending": 850,
        "in_flight": 0,
        "debt": 0,
        "total_earned": 3 * 3825 + 850,
        "total_withdrawn": 0,
        "currency": "usd",
        "payout_threshold": 1000,
        "auto_payout_enabled": False,
        "bank_last4": None,
    }


def test_a_tutor_without_a_wallet_sees_zeros_and_nothing_is_written(client, bearer, tutor):
    body = client.get("/api/v1/wallet/", headers=bearer(tutor)).json
    assert (body["balance"], body["pending"], body["total_earned"]) == (0, 0, 0)
    listing = client.get("/api/v1/wallet/transactions/", headers=bearer(tutor)).json
    assert listing == {"count": 0, "next": None, "previous": None, "results": []}
    assert db.session.query(TutorWallet).count() == 0


@pytest.mark.parametrize("role", ["student", "admin"])
def test_students_and_admins_get_403(client, bearer, request, role):
    headers = bearer(request.getfixturevalue(role))
    for url in ("/api/v1/wallet/", "/api/v1/wallet/transactions/", "/api/v1/wallet/analytics/"):
        response = client.get(url, headers=headers)
        assert response.status_code == 403
        assert response.json["error"]["code"] == "forbidden"
    assert (
        client.patch(
            "/api/v1/wallet/settings/", json={"auto_payout_enabled": True}, headers=headers
        ).status_code
        == 403
    )


def test_anonymous_gets_401(client):
    assert client.get("/api/v1/wallet/").status_code == 401


def test_transactions_page_and_filter(client, bearer, earning_tutor):
    headers = bearer(earning_tutor)
    body = client.get("/api/v1/wallet/transactions/?page_size=2", headers=headers).json
    assert body["count"] == 7 and len(body["results"]) == 2 and body["next"]
    newest = body["results"][0]
    assert (newest["type"], newest["amount"], newest["pending_after"]) == ("earning", 850, 850)
    assert newest["balance_after"] == 3 * 3825 and newest["currency"] == "usd"
    second = client.get(body["next"], headers=headers).json
    assert second["previous"] and second["results"][0]["id"] < body["results"][-1]["id"]
    releases = client.get("/api/v1/wallet/transactions/?type=release", headers=headers).json
    assert releases["count"] == 3
    assert all(line["type"] == "release" for line in releases["results"])
    today = utcnow().date().isoformat()
    dated = client.get(f"/api/v1/wallet/transactions/?from={today}&to={today}", headers=headers)
    assert dated.json["count"] == 7
    old = client.get("/api/v1/wallet/transactions/?to=2020-01-01", headers=headers)
    assert old.json["count"] == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("type=bonus", "type"),
        ("from=yesterday", "from"),
        ("to=2026-02-30", "to"),
        ("from=2026-05-02&to=2026-05-01", "from"),
        ("page=0", "page"),
        ("page_size=1000", "page_size"),
    ],
)
def test_bad_transaction_filters_are_400(client, bearer, earning_tutor, query, field):
    response = client.get(f"/api/v1/wallet/transactions/?{query}", headers=bearer(earning_tutor))
    assert response.status_code == 400
    assert field in response.json["error"]["fields"]


def test_analytics_by_period(client, bearer, earning_tutor):
    headers = bearer(earning_tutor)
    body = client.get("/api/v1/wallet/analytics/", headers=headers).json
    assert body["period"] == "month" and len(body["results"]) == 12
    this_month = body["results"][-1]
    assert this_month == {
        "period_start": utcnow().date().replace(day=1).isoformat(),
        "earned": 3 * 3825 + 850,
        "fees": 3 * 675 + 150,
        "lessons": 4,
        "refunds": 0,
        "net": 3 * 3825 + 850,
    }
    days = client.get("/api/v1/wallet/analytics/?period=day", headers=headers).json
    assert len(days["results"]) == 30
    today = utcnow().date()
    weeks = client.get(
        f"/api/v1/wallet/analytics/?period=week&from={(today - timedelta(days=14)).isoformat()}"
        f"&to={today.isoformat()}",
        headers=headers,
    ).json
    assert sum(w["lessons"] for w in weeks["results"]) == 4


@pytest.mark.parametrize(
    "query",
    [
        "period=year",
        "period=day&from=2026-01-02&to=2026-01-01",
        "period=day&from=2026-13-01",
        "period=day&from=2000-01-01&to=2026-01-01",
    ],
)
def test_bad_analytics_queries_are_400(client, bearer, earning_tutor, query):
    response = client.get(f"/api/v1/wallet/analytics/?{query}", headers=bearer(earning_tutor))
    assert response.status_code == 400
    assert response.json["error"]["message"]


def test_patch_settings(client, bearer, tutor):
    headers = bearer(tutor)
    response = client.patch(
        "/api/v1/wallet/settings/",
        headers=headers,
        json={"payout_threshold": 5000, "auto_payout_enabled": True},
    )
    assert response.status_code == 200
    assert (response.json["payout_threshold"], response.json["auto_payout_enabled"]) == (5000, True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"payout_threshold": 999}, "payout_threshold"),
        ({"payout_threshold": "5000"}, "payout_threshold"),
        ({"payout_threshold": 50.5}, "payout_threshold"),
        ({"payout_threshold": -1}, "payout_threshold"),
        ({"auto_payout_enabled": "yes"}, "auto_payout_enabled"),
        ({"balance": 10**6}, "balance"),
    ],
)
def test_bad_settings_are_400_and_change_nothing(client, bearer, tutor, body, field):
    response = client.patch("/api/v1/wallet/settings/", json=body, headers=bearer(tutor))
    assert response.status_code == 400
    assert field in response.json["error"]["fields"]
    assert get_wallet(tutor.id) is None


def test_session_patch_needs_csrf(app, login, tutor):
    with app.app_context():
        browser = login(tutor)
    with app.app_context():
        refused = browser.client.patch("/api/v1/wallet/settings/", json={"payout_threshold": 2000})
    assert refused.status_code == 400
    with app.app_context():
        accepted = browser.api("PATCH", "/api/v1/wallet/settings/", json={"payout_threshold": 2000})
    assert accepted.status_code == 200


def test_analytics_names_its_range(client, bearer, earning_tutor):
    headers = bearer(earning_tutor)
    today = utcnow().date()
    days = client.get("/api/v1/wallet/analytics/?period=day", headers=headers).json
    assert (days["from"], days["to"]) == (
        (today - timedelta(days=29)).isoformat(),
        today.isoformat(),
    )
    assert [b["period_start"] for b in days["results"]][-1] == today.isoformat()
    chosen = client.get(
        "/api/v1/wallet/analytics/?period=week&from=2026-01-05&to=2026-01-18", headers=headers
    ).json
    assert (chosen["period"], chosen["from"], chosen["to"]) == ("week", "2026-01-05", "2026-01-18")
    assert [b["period_start"] for b in chosen["results"]] == ["2026-01-05", "2026-01-12"]


def test_null_or_absent_settings_change_nothing_but_null_disconnects_stripe(client, bearer, tutor):
    headers = bearer(tutor)
    url = "/api/v1/wallet/settings/"
    account = "acct_1Nv0FGQ9RKHgCVdK"
    first = client.patch(url, json={"payout_threshold": 5000, "stripe_account_id": account},
                         headers=headers)  # fmt: skip
    assert first.status_code == 200, first.json
    kept = client.patch(url, json={"payout_threshold": None, "auto_payout_enabled": True},
                        headers=headers)  # fmt: skip
    assert (kept.json["payout_threshold"], kept.json["auto_payout_enabled"]) == (5000, True)
    destination = db.session.scalar(sa.select(PayoutDestination))
    assert destination.stripe_account_id == account
    removed = client.patch(url, json={"stripe_account_id": None}, headers=headers)
    assert removed.status_code == 200
    db.session.expire_all()
    assert db.session.scalar(sa.select(PayoutDestination)).stripe_account_id is None


@pytest.mark.parametrize(
    "body",
    [{"auto_payout_enabled": 1}, {"auto_payout_enabled": "true"}, {"payout_threshold": True},
     {"bank_name": 7}, {"stripe_account_id": ["acct_1Nv0FGQ9RKHgCVdK"]}],
)  # fmt: skip
def test_settings_of_the_wrong_json_type_are_400_naming_the_field(client, bearer, tutor, body):
    response = client.patch("/api/v1/wallet/settings/", json=body, headers=bearer(tutor))
    assert response.status_code == 400
    [field] = body
    assert response.json["error"]["code"] == "invalid"
    assert list(response.json["error"]["fields"]) == [field]
    assert get_wallet(tutor.id) is None
